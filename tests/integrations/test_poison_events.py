"""No event can wedge the worker, and no stored payload breaks a page (issue 11).

The door now refuses deep payloads, so these tests put them straight into the database, as an
older release (or a hand-edited row) could have left them.
"""

import pytest
from django.db import connection
from django.urls import reverse

from apps.core.bounded import CLIPPED_MARKER, UNREADABLE_KEY, json_violations
from apps.integrations.inbound import process, registry, services, tasks
from apps.integrations.models import InboundEvent
from tests.factories import IdentifierMappingFactory

from .factories import InboundEventFactory, IntegrationFactory

pytestmark = pytest.mark.django_db


def store_deep_payload(event: InboundEvent, depth: int) -> InboundEvent:
    """Give a stored event a payload whose data nests `depth` levels (written as SQL text: the
    ORM's encoder would recurse)."""
    text = (
        '{"type": "deposit.created", "timestamp": "2026-11-27T10:15:00Z", "data": {"deposit_id": '
        '"D-deep", '
        '"player_id": "P-1", "amount": "5.00", "currency": "EUR", "extra": '
        + "[" * depth
        + "]" * depth
        + "}}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE integrations_inboundevent SET payload = %s::jsonb WHERE id = %s",
            [text, event.pk],
        )
    return event


@pytest.fixture
def crm():
    integration = IntegrationFactory(slug="crm-main")
    IdentifierMappingFactory(system="crm", external_id="P-1")
    return integration


# --- rendering --------------------------------------------------------------------------------


@pytest.fixture(params=[1_000, 3_000], ids=["1000-deep", "3000-deep"])
def deep_events(request, crm):
    """One deep event in each state an admin page lists."""
    return {
        status: store_deep_payload(
            InboundEventFactory(integration=crm, status=status), request.param
        )
        for status in ("received", "dead", "parked")
    }


@pytest.mark.parametrize(
    "model, status",
    [("inboundevent", "received"), ("deadletterevent", "dead"), ("parkedevent", "parked")],
)
def test_admin_list_and_detail_render_a_deeply_nested_payload(
    admin_client, deep_events, model, status
):
    event = deep_events[status]
    listing = admin_client.get(reverse(f"admin:integrations_{model}_changelist"))
    assert listing.status_code == 200
    assert f">{event.pk}<" in listing.content.decode()
    detail = admin_client.get(reverse(f"admin:integrations_{model}_change", args=[event.pk]))
    assert detail.status_code == 200
    page = detail.content.decode()
    assert CLIPPED_MARKER in page or UNREADABLE_KEY in page


def test_the_read_api_renders_a_deeply_nested_payload(api_key_factory, settings, deep_events):
    settings.AFFILIATEHUB_API_SETTLE_SECONDS = 0
    response = api_key_factory("events:read").get("/api/v1/events/?status=received")
    assert response.status_code == 200, response.content
    [row] = response.json()["results"]
    assert row["id"] == deep_events["received"].pk
    assert json_violations(row["payload"]) == {}  # summarised to the documented depth


# --- processing -------------------------------------------------------------------------------


def recurse_forever(ctx):
    if ctx.data["deposit_id"] == "dep-poison":
        recurse_forever(ctx)


def test_an_event_raising_recursion_error_is_dead_lettered_and_the_next_20_are_processed(crm):
    registry.register("deposit.created", recurse_forever)
    poison = InboundEventFactory(integration=crm, webhook_id="poison")
    behind = [InboundEventFactory(integration=crm) for _ in range(20)]

    counts = tasks.process_inbound_events([poison.pk, *(event.pk for event in behind)])

    assert counts == {"dead": 1, "processed": 20}
    poison.refresh_from_db()
    assert (poison.status, poison.attempts, poison.next_attempt_at) == ("dead", 1, None)
    assert "RecursionError" in poison.last_error and "not retried" in poison.last_error
    assert set(
        InboundEvent.objects.filter(pk__in=[e.pk for e in behind]).values_list("status", flat=True)
    ) == {"processed"}


@pytest.mark.parametrize("depth", [1_000, 3_000])
def test_a_stored_deeply_nested_payload_ends_invalid_and_does_not_hold_up_the_others(crm, depth):
    deep = store_deep_payload(InboundEventFactory(integration=crm), depth)
    behind = InboundEventFactory(integration=crm)

    assert services.inbound_events_process_sequence(event_ids=[deep.pk, behind.pk]) == {
        "invalid": 1,
        "processed": 1,
    }
    deep.refresh_from_db()
    assert deep.status == "invalid" and deep.errors


def test_a_failure_before_the_handlers_run_is_dead_lettered_without_retries(crm, monkeypatch):
    poison, behind = InboundEventFactory(integration=crm), InboundEventFactory(integration=crm)
    validate = process.validate_envelope

    def validate_or_run_out_of_memory(envelope, **kwargs):
        if envelope["data"]["deposit_id"] == f"dep-{poison.webhook_id}":
            raise MemoryError("simulated")
        return validate(envelope, **kwargs)

    monkeypatch.setattr(process, "validate_envelope", validate_or_run_out_of_memory)
    assert services.inbound_events_process_sequence(event_ids=[poison.pk, behind.pk]) == {
        "dead": 1,
        "processed": 1,
    }
    poison.refresh_from_db()
    assert poison.status == "dead" and poison.last_error.startswith(
        "The stored event cannot be read; not retried."
    )
    assert "MemoryError" in poison.last_error


def test_a_memory_error_in_a_handler_is_retried_like_any_failure(crm, monkeypatch):
    def run_out_of_memory(ctx):
        raise MemoryError("simulated")

    registry.register("deposit.created", run_out_of_memory)
    event = InboundEventFactory(integration=crm)
    assert services.inbound_event_process(event_id=event.pk) == "failed"
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1) and event.next_attempt_at is not None


def test_a_database_outage_is_left_to_the_task_retry(crm, monkeypatch):
    from django.db import OperationalError

    event = InboundEventFactory(integration=crm)

    def database_down(event_id, **kwargs):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(process, "_lock_for_processing", database_down)
    with pytest.raises(OperationalError):
        services.inbound_event_process(event_id=event.pk)


def test_a_huge_raw_body_is_shown_truncated(admin_client, crm):
    event = InboundEventFactory(
        integration=crm, status="invalid", payload={}, raw_body="x" * 1_000_000
    )
    detail = admin_client.get(reverse("admin:integrations_deadletterevent_change", args=[event.pk]))
    assert detail.status_code == 200
    assert "980,000 more characters not shown" in detail.content.decode()
