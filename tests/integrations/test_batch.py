"""POST /api/v1/webhooks/<slug>/batch/: signed as a whole, idempotent per item, counted answers."""

import json

import pytest
from django.test import override_settings

from apps.integrations.models import InboundConflict, InboundEvent

from .conftest import load_fixture

pytestmark = pytest.mark.django_db


def item(n, **changes):
    envelope = load_fixture("deposit_created.json")
    envelope["data"]["deposit_id"] = f"D-{n}"
    return {"id": f"dep-{n}", **envelope, **changes}


def test_batch_counts_accepted_duplicate_invalid_and_conflict(
    post_webhook, published, django_capture_on_commit_callbacks
):
    first = post_webhook({"events": [item(1), item(2)]}, webhook_id="batch-1", batch=True)
    assert first.status_code == 202
    assert first.json()["accepted"] == 2

    events = [
        item(1),  # duplicate
        item(2, data={**item(2)["data"], "amount": "2.00"}),  # same id, different body: conflict
        item(3),  # new
        item(4, type="trade.closed"),  # not sent by a CRM: invalid
        {"type": "deposit.created"},  # no id: invalid, kept under a derived id
        "not an object",
        item(3),  # repeated inside the batch: duplicate of the first
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook({"events": events}, webhook_id="batch-2", batch=True)
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["invalid"], body["conflict"]) == (1, 2, 3, 1)
    assert [entry["index"] for entry in body["invalid_items"]] == [3, 4, 5]
    assert "type" in body["invalid_items"][0]["errors"]
    assert "id" in body["invalid_items"][1]["errors"]
    assert body["conflict_items"][0]["index"] == 1

    assert InboundEvent.objects.filter(source="batch", status="received").count() == 3
    assert InboundEvent.objects.filter(webhook_id="batch-2#4", status="invalid").exists()
    assert InboundConflict.objects.get().payload["data"]["amount"] == "2.00"
    new = InboundEvent.objects.get(webhook_id="dep-3")
    assert published == [("integrations.process_inbound_event", [new.pk], None)]

    again = post_webhook({"events": events}, webhook_id="batch-2", batch=True)
    assert again.status_code == 200
    assert again.json()["accepted"] == 0


def test_batch_item_ids_are_shared_with_single_webhooks(post_webhook):
    assert post_webhook(item(7), webhook_id="dep-7").status_code == 202
    response = post_webhook({"events": [{**item(7)}]}, webhook_id="b", batch=True)
    # The single webhook's body had no "id"; the batch item has one: a different body.
    assert response.json()["conflict"] == 1


def test_large_batch_is_one_insert(post_webhook, django_assert_max_num_queries):
    events = [item(n) for n in range(5000)]
    with django_assert_max_num_queries(3):
        response = post_webhook({"events": events}, webhook_id="big", batch=True)
    assert response.status_code == 202
    assert response.json()["accepted"] == 5000
    assert InboundEvent.objects.count() == 5000


@override_settings(AFFILIATEHUB_WEBHOOK_BATCH_MAX_EVENTS=3)
def test_too_many_events_is_refused_and_kept(post_webhook):
    response = post_webhook(
        {"events": [item(n) for n in range(4)]}, webhook_id="too-many", batch=True
    )
    assert response.status_code == 422
    assert "events" in response.json()["errors"]
    assert InboundEvent.objects.get(webhook_id="too-many").status == "invalid"


@pytest.mark.parametrize("body", [{"events": []}, {"events": "x"}, {"items": []}])
def test_batch_shape_errors(post_webhook, body):
    assert post_webhook(body, webhook_id="shape", batch=True).status_code == 422


def test_batch_not_an_object(post_webhook):
    assert post_webhook(b"[]", webhook_id="arr", batch=True).status_code == 400


@override_settings(AFFILIATEHUB_WEBHOOK_BATCH_MAX_BODY_BYTES=10_000)
def test_batch_size_limit(post_webhook):
    response = post_webhook(
        {"events": [item(n) for n in range(100)]}, webhook_id="huge", batch=True
    )
    assert response.status_code == 413


def test_batch_signature_covers_the_whole_body(post_webhook, secret):
    raw = json.dumps({"events": [item(1)]}).encode()
    import time

    from .conftest import sign

    now = int(time.time())
    signature = sign(secret, "b", now, raw)
    tampered = raw.replace(b"150.00", b"1500.00")
    assert (
        post_webhook(
            tampered, webhook_id="b", timestamp=now, signature=signature, batch=True
        ).status_code
        == 401
    )
