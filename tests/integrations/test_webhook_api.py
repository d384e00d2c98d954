"""POST /api/v1/webhooks/<slug>/: every row of the answers table in WEBHOOKS.md §1."""

import json
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.test import override_settings

from apps.integrations.api import views as webhook_views
from apps.integrations.inbound import verification
from apps.integrations.inbound.schemas import validate_envelope
from apps.integrations.models import InboundConflict, InboundEvent, SchemaWarningSeen

from .conftest import load_fixture, sign
from .factories import IntegrationFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"] and body["detail"]
    return body


def test_202_accepted_stores_and_enqueues_after_commit(
    post_webhook, published, django_capture_on_commit_callbacks
):
    envelope = load_fixture("deposit_created.json")
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(envelope, webhook_id="msg_dep_1")

    assert response.status_code == 202
    event = InboundEvent.objects.get()
    assert response.json() == {"status": "accepted", "event_id": event.pk}
    assert event.status == "received"
    assert event.webhook_id == "msg_dep_1"
    assert event.event_type == "deposit.created"
    assert event.payload == envelope
    assert event.source == "webhook"
    assert event.occurred_at.isoformat() == "2026-11-27T10:15:00+00:00"
    assert len(event.body_hash) == 64
    assert published == [("integrations.process_inbound_event", [event.pk], None)]


def test_trade_events_go_to_the_trade_task(client, published, django_capture_on_commit_callbacks):
    trading = IntegrationFactory(slug="mt5-live", kind="trading", id_system="mt5-live")
    secret = trading.secrets.get().secret
    body = json.dumps(load_fixture("trade_closed.json")).encode()
    now = int(time.time())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/webhooks/mt5-live/",
            body,
            content_type="application/json",
            HTTP_WEBHOOK_ID="deal-7788001",
            HTTP_WEBHOOK_TIMESTAMP=str(now),
            HTTP_WEBHOOK_SIGNATURE=sign(secret, "deal-7788001", now, body),
        )
    assert response.status_code == 202, response.content
    assert published[0][0] == "integrations.process_inbound_trade_event"


def test_200_duplicate_same_id_same_body(
    post_webhook, published, django_capture_on_commit_callbacks
):
    envelope = load_fixture("deposit_created.json")
    first = post_webhook(envelope, webhook_id="msg_dup")
    with django_capture_on_commit_callbacks(execute=True):
        # A retry is signed again with a new timestamp: same id, same body.
        second = post_webhook(envelope, webhook_id="msg_dup", timestamp=int(time.time()) - 10)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate", "event_id": first.json()["event_id"]}
    assert InboundEvent.objects.count() == 1
    assert published == []  # nothing new to process


def test_409_same_id_different_body_keeps_new_body(post_webhook):
    envelope = load_fixture("deposit_created.json")
    first = post_webhook(envelope, webhook_id="msg_c")
    changed = {**envelope, "data": {**envelope["data"], "amount": "999.00"}}
    second = post_webhook(changed, webhook_id="msg_c")

    body = assert_problem(second, 409)
    assert body["event_id"] == first.json()["event_id"]
    original = InboundEvent.objects.get()
    assert original.payload["data"]["amount"] == "150.00"  # untouched
    conflict = InboundConflict.objects.get()
    assert conflict.original == original
    assert conflict.payload["data"]["amount"] == "999.00"
    assert conflict.webhook_id == "msg_c"


# A NUL (\u0000) in a JSON object is a 422 naming the field:
# tests/integrations/test_bounded_input.py.
@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"not json at all", b"\xff\xfe", b" "])
def test_400_not_a_json_object_is_still_kept(post_webhook, body):
    response = post_webhook(body, webhook_id="msg_bad")
    problem = assert_problem(response, 400)
    event = InboundEvent.objects.get(pk=problem["event_id"])
    assert event.status == "invalid"
    assert event.errors["non_field_errors"]
    assert event.payload == {}
    assert event.raw_body == body.decode("utf-8", "replace").replace("\x00", "\ufffd")


@pytest.mark.parametrize(
    "headers",
    [
        {"signature": "v1,AAAA"},  # wrong signature
        {"signature": "v1,not base64!!"},
        {"signature": "v2,abc"},  # no v1 signature at all
        {"signature": "garbage"},
        {"timestamp": "abc"},
        {"timestamp": "1e9"},
        {"timestamp": "99999999999999999999999"},
        {"timestamp": "-5"},
        {"webhook_id": "has space"},
        {"webhook_id": "x" * 300},
    ],
)
def test_401_bad_headers(post_webhook, headers):
    kwargs = dict(headers)
    if "signature" not in kwargs:
        kwargs.setdefault("signature", None)
    response = post_webhook(load_fixture("deposit_created.json"), **kwargs)
    assert_problem(response, 401)
    assert response["WWW-Authenticate"] == "Webhook"
    assert InboundEvent.objects.count() == 0


@pytest.mark.parametrize(
    "missing", ["HTTP_WEBHOOK_ID", "HTTP_WEBHOOK_TIMESTAMP", "HTTP_WEBHOOK_SIGNATURE"]
)
def test_401_missing_header(client, integration, secret, missing):
    body = json.dumps(load_fixture("deposit_created.json")).encode()
    now = int(time.time())
    headers = {
        "HTTP_WEBHOOK_ID": "msg_m",
        "HTTP_WEBHOOK_TIMESTAMP": str(now),
        "HTTP_WEBHOOK_SIGNATURE": sign(secret, "msg_m", now, body),
    }
    del headers[missing]
    response = client.post(
        f"/api/v1/webhooks/{integration.slug}/", body, content_type="application/json", **headers
    )
    body = assert_problem(response, 401)
    assert "Missing header" in body["detail"]


def test_401_signed_with_another_secret(post_webhook):
    response = post_webhook(
        load_fixture("deposit_created.json"),
        secret_override="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    assert_problem(response, 401)


def test_401_body_changed_after_signing(client, integration, secret):
    body = json.dumps(load_fixture("deposit_created.json")).encode()
    now = int(time.time())
    response = client.post(
        f"/api/v1/webhooks/{integration.slug}/",
        body.replace(b"150.00", b"15000.00"),
        content_type="application/json",
        HTTP_WEBHOOK_ID="msg_t",
        HTTP_WEBHOOK_TIMESTAMP=str(now),
        HTTP_WEBHOOK_SIGNATURE=sign(secret, "msg_t", now, body),
    )
    assert_problem(response, 401)


@pytest.mark.parametrize("offset, ok", [(-301, False), (-299, True), (299, True), (301, False)])
def test_timestamp_tolerance_both_ways(post_webhook, offset, ok, monkeypatch):
    # The server's clock stands still for the request (the view reads it and hands it to the
    # verifier), so a slow machine cannot move a 299 s or 301 s skew across the 300 s tolerance
    # between signing and verifying.
    now = int(time.time())
    clock = SimpleNamespace(time=lambda: float(now), monotonic=time.monotonic)
    monkeypatch.setattr(webhook_views, "time", clock)
    monkeypatch.setattr(verification, "time", clock)
    response = post_webhook(load_fixture("deposit_created.json"), timestamp=now + offset)
    if ok:
        assert response.status_code == 202
    else:
        body = assert_problem(response, 401)
        assert "too old" in body["detail"] or "future" in body["detail"]


def test_any_listed_signature_may_match(post_webhook, secret):
    envelope = load_fixture("deposit_created.json")
    raw = json.dumps(envelope).encode()
    now = int(time.time())
    good = sign(secret, "msg_multi", now, raw)
    response = post_webhook(
        raw, webhook_id="msg_multi", timestamp=now, signature=f"v1,AAAA v1a,xyz junk {good}"
    )
    assert response.status_code == 202


def test_404_unknown_integration(post_webhook):
    assert_problem(post_webhook(load_fixture("deposit_created.json"), slug="nope"), 404)


def test_403_disabled_integration(post_webhook, integration):
    integration.is_active = False
    integration.save()
    assert_problem(post_webhook(load_fixture("deposit_created.json")), 403)
    assert InboundEvent.objects.count() == 0


@override_settings(AFFILIATEHUB_WEBHOOK_MAX_BODY_BYTES=2048)
def test_413_too_large(post_webhook):
    envelope = load_fixture("deposit_created.json")
    envelope["data"]["note"] = "x" * 3000
    assert_problem(post_webhook(envelope), 413)
    assert InboundEvent.objects.count() == 0


@override_settings(AFFILIATEHUB_WEBHOOK_MAX_BODY_BYTES=2048)
def test_413_actual_length_checked_when_content_length_lies(post_webhook):
    envelope = load_fixture("deposit_created.json")
    envelope["data"]["note"] = "x" * 3000
    raw = json.dumps(envelope).encode()
    # A Content-Length header of 100 bytes: Django's stream stops there, the body is cut, the
    # signature (over the whole body) fails. A missing length must not let it through either.
    response = post_webhook(raw, CONTENT_LENGTH="100")
    assert response.status_code in (401, 413)
    assert InboundEvent.objects.count() == 0


def test_default_limit_is_one_mebibyte(post_webhook):
    envelope = load_fixture("deposit_created.json")
    envelope["data"]["note"] = "x" * (1024 * 1024)
    assert_problem(post_webhook(envelope), 413)


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_415_not_json(post_webhook, content_type):
    assert_problem(
        post_webhook(load_fixture("deposit_created.json"), content_type=content_type), 415
    )


def test_json_content_type_with_charset_is_fine(post_webhook):
    response = post_webhook(
        load_fixture("deposit_created.json"), content_type="application/json; charset=utf-8"
    )
    assert response.status_code == 202


def test_422_invalid_payload_is_stored_with_field_errors(post_webhook):
    envelope = load_fixture("deposit_created.json")
    envelope["data"].update(amount=150.5, currency="eur")
    del envelope["data"]["player_id"]
    response = post_webhook(envelope, webhook_id="msg_inv")

    problem = assert_problem(response, 422)
    errors = problem["errors"]
    assert "float" in errors["data.amount"][0] or "decimal" in errors["data.amount"][0]
    assert "ISO 4217" in errors["data.currency"][0]
    assert errors["data.player_id"]
    event = InboundEvent.objects.get(pk=problem["event_id"])
    assert event.status == "invalid"
    assert event.errors == errors
    assert event.payload == envelope

    # The same delivery again: still 422, nothing new stored.
    again = post_webhook(envelope, webhook_id="msg_inv")
    assert assert_problem(again, 422)["event_id"] == event.pk
    assert InboundEvent.objects.count() == 1


def test_422_event_type_not_sent_by_this_kind(post_webhook):
    response = post_webhook(load_fixture("trade_closed.json"))  # a CRM does not send trades
    problem = assert_problem(response, 422)
    assert "does not send trade.closed" in problem["errors"]["type"][0]
    assert InboundEvent.objects.get().status == "invalid"


@pytest.mark.parametrize(
    "envelope, field",
    [
        ({"timestamp": "2026-11-27T10:15:00Z", "data": {}}, "type"),
        ({"type": "deposit.made", "timestamp": "2026-11-27T10:15:00Z", "data": {}}, "type"),
        ({"type": "kyc.updated", "timestamp": "2026-11-27T10:15:00", "data": {}}, "timestamp"),
        ({"type": "kyc.updated", "timestamp": "yesterday", "data": {}}, "timestamp"),
        ({"type": "kyc.updated", "timestamp": "2026-11-27T10:15:00Z", "data": []}, "data"),
    ],
)
def test_422_envelope_errors(client, envelope, field):
    compliance = IntegrationFactory(slug="kyc-feed", kind="compliance")
    secret = compliance.secrets.get().secret
    body = json.dumps(envelope).encode()
    now = int(time.time())
    response = client.post(
        "/api/v1/webhooks/kyc-feed/",
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID="e1",
        HTTP_WEBHOOK_TIMESTAMP=str(now),
        HTTP_WEBHOOK_SIGNATURE=sign(secret, "e1", now, body),
    )
    assert field in assert_problem(response, 422)["errors"]


@override_settings(AFFILIATEHUB_WEBHOOK_THROTTLE_RATE="3/minute")
def test_429_throttled_with_retry_after(post_webhook):
    envelope = load_fixture("deposit_created.json")
    statuses = [post_webhook(envelope, webhook_id=f"msg_r{i}").status_code for i in range(4)]
    assert statuses == [202, 202, 202, 429]
    last = post_webhook(envelope, webhook_id="msg_r9")
    assert_problem(last, 429)
    assert 1 <= int(last["Retry-After"]) <= 60
    assert InboundEvent.objects.count() == 3


@override_settings(AFFILIATEHUB_WEBHOOK_THROTTLE_RATE="1/minute")
def test_throttle_is_per_integration(post_webhook, client):
    other = IntegrationFactory(slug="other-crm")
    secret = other.secrets.get().secret
    assert post_webhook(load_fixture("deposit_created.json")).status_code == 202
    body = json.dumps(load_fixture("deposit_created.json")).encode()
    now = int(time.time())
    response = client.post(
        "/api/v1/webhooks/other-crm/",
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID="o1",
        HTTP_WEBHOOK_TIMESTAMP=str(now),
        HTTP_WEBHOOK_SIGNATURE=sign(secret, "o1", now, body),
    )
    assert response.status_code == 202


def test_405_other_methods(client, integration):
    response = client.get(f"/api/v1/webhooks/{integration.slug}/")
    assert_problem(response, 405)
    assert response["Allow"] == "POST"


def test_unknown_fields_accepted_with_warnings_logged_once(post_webhook, caplog):
    envelope = load_fixture("deposit_created.json")
    envelope["data"]["bonus_code"] = "WELCOME"
    envelope["source"] = "crm-v2"
    with caplog.at_level("WARNING", logger="apps.integrations.inbound.store"):
        first = post_webhook(envelope, webhook_id="msg_u1")
        second = post_webhook(envelope, webhook_id="msg_u2")
    assert first.status_code == second.status_code == 202
    event = InboundEvent.objects.get(webhook_id="msg_u1")
    assert {w["field"] for w in event.warnings} == {"data.bonus_code", "source"}
    assert InboundEvent.objects.get(webhook_id="msg_u2").warnings == event.warnings
    logged = [r.getMessage() for r in caplog.records if "unknown field" in r.getMessage()]
    assert len(logged) == 2  # once per field, not once per event
    assert set(SchemaWarningSeen.objects.values_list("field", flat=True)) == {
        "data.bonus_code",
        "source",
    }


def test_csrf_is_not_required(integration, secret):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    body = json.dumps(load_fixture("deposit_created.json")).encode()
    now = int(time.time())
    response = client.post(
        f"/api/v1/webhooks/{integration.slug}/",
        body,
        content_type="application/json",
        HTTP_WEBHOOK_ID="csrf",
        HTTP_WEBHOOK_TIMESTAMP=str(now),
        HTTP_WEBHOOK_SIGNATURE=sign(secret, "csrf", now, body),
    )
    assert response.status_code == 202


# --- payload schemas -------------------------------------------------------------------------

KIND_FOR = {
    "player_registered": "crm",
    "deposit_created": "payments",
    "revenue_reported": "crm",
    "trade_closed": "trading",
    "purchase_created": "prop",
    "purchase_refunded": "crm",
    "chargeback_created": "payments",
    "kyc_updated": "compliance",
    "self_exclusion_started": "compliance",
    "self_exclusion_ended": "compliance",
    "payout_confirmed": "payments",
    "payout_failed": "payments",
}


@pytest.mark.parametrize("name", sorted(KIND_FOR))
def test_every_fixture_is_valid_for_its_kind(name):
    result = validate_envelope(load_fixture(f"{name}.json"), kind=KIND_FOR[name])
    assert result.errors == {}
    assert result.warnings == []


def test_validated_data_types():
    trade = validate_envelope(load_fixture("trade_closed.json"), kind="trading").data
    assert trade["volume_lots"] == Decimal("3.5")
    assert trade["profit"] == Decimal("-12.40")
    assert trade["login"] == "50123"  # integer identifiers become text
    assert trade["closed_at"].tzinfo is not None


@pytest.mark.parametrize(
    "amount, ok",
    [
        ("12.50", True),
        (12, True),
        ("-3", False),
        (12.5, False),
        ("1e5", False),
        ("NaN", False),
        (True, False),
        ("1.123456789", False),
    ],
)
def test_amount_rules(amount, ok):
    envelope = load_fixture("deposit_created.json")
    envelope["data"]["amount"] = amount
    result = validate_envelope(envelope, kind="crm")
    assert result.is_valid is ok, result.errors


@pytest.mark.parametrize(
    "country, ok", [("MT", True), ("mt", False), ("MLT", False), ("MT\n", False), (None, False)]
)
def test_country_rules(country, ok):
    envelope = load_fixture("player_registered.json")
    envelope["data"]["country"] = country
    result = validate_envelope(envelope, kind="crm")
    assert result.is_valid is ok  # required: a new player cannot be created without it
