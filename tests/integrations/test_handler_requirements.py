"""The door checks what the worker needs (WEBHOOKS.md §2, issue 11).

An event answered 202 may later wait (its player is unknown: parked) or fail for reasons that
depend on other data, never because of its own shape. These tests walk every registered event
type: what its handlers read is required at the door, a minimal event the door accepts is
processed by the worker, and every text a handler stores in a column is refused at the door
when it is longer than that column (and processed when it fits exactly).
"""

import json
import time

import pytest

from apps.integrations.inbound import registry
from apps.integrations.inbound.schemas import EVENT_SERIALIZERS, KIND_EVENT_TYPES
from apps.integrations.inbound.services import inbound_event_process
from apps.integrations.models import InboundEvent
from tests.factories import IdentifierMappingFactory
from tests.payouts.conftest import (  # noqa: F401 - fixtures for the payout events
    affiliate,
    approved_payout,
    draft_payout,
    finance_checker,
    finance_maker,
    gateway,
    method,
    pending_payout,
)

from .conftest import load_fixture, sign
from .factories import IntegrationFactory

TYPES = sorted(EVENT_SERIALIZERS)
KIND = {
    event_type: next(k for k, types in KIND_EVENT_TYPES.items() if event_type in types)
    for event_type in TYPES
}
# The field a handler resolves the player by (a trading platform names the account's login).
PLAYER_FIELD = {"trade.closed": "login"}
PAYOUT_TYPES = {"payout.confirmed", "payout.failed"}


def required_fields(event_type: str) -> list[str]:
    return [
        name for name, field in EVENT_SERIALIZERS[event_type]().fields.items() if field.required
    ]


def minimal_envelope(event_type: str) -> dict:
    """The type's fixture with only the fields its schema requires."""
    envelope = load_fixture(event_type.replace(".", "_") + ".json")
    envelope["data"] = {name: envelope["data"][name] for name in required_fields(event_type)}
    return envelope


@pytest.fixture
def deliver(client, db, published):
    """POST an envelope as a signed webhook from an integration of the type's kind."""
    sources = {}

    def post(envelope: dict, *, webhook_id: str = "msg_1"):
        kind = KIND[envelope["type"]]
        if kind not in sources:
            sources[kind] = IntegrationFactory(slug=f"{kind}-source", kind=kind, id_system=kind)
        integration = sources[kind]
        raw = json.dumps(envelope).encode()
        now = int(time.time())
        return client.generic(
            "POST",
            f"/api/v1/webhooks/{integration.slug}/",
            raw,
            content_type="application/json",
            HTTP_WEBHOOK_ID=webhook_id,
            HTTP_WEBHOOK_TIMESTAMP=str(now),
            HTTP_WEBHOOK_SIGNATURE=sign(integration.secrets.get().secret, webhook_id, now, raw),
        )

    return post


@pytest.fixture
def world(deliver, request):
    """What other data an event of each type expects: its player mapped in the sender's
    identifier system, the purchase a refund names, an approved payout a gateway reports on."""

    def prepare(envelope: dict) -> dict:
        event_type, data = envelope["type"], envelope["data"]
        field = PLAYER_FIELD.get(event_type, "player_id")
        if event_type != "player.registered" and field in data:
            IdentifierMappingFactory(system=KIND[event_type], external_id=str(data[field]))
        if event_type == "purchase.refunded":
            purchase = minimal_envelope("purchase.created")
            purchase["data"].update(
                {key: data[key] for key in ("purchase_id", "player_id", "amount", "currency")}
            )
            stored = deliver(purchase, webhook_id="msg_purchase")
            assert inbound_event_process(event_id=stored.json()["event_id"]) == "processed"
        if event_type in PAYOUT_TYPES:
            data["payout_reference"] = request.getfixturevalue("approved_payout").reference
        return envelope

    return prepare


def process(response) -> InboundEvent:
    assert response.status_code == 202, response.content
    event_id = response.json()["event_id"]
    inbound_event_process(event_id=event_id)
    return InboundEvent.objects.get(pk=event_id)


def test_every_event_type_has_handlers_and_a_schema():
    assert set(TYPES) == registry.EVENT_TYPES
    assert all(registry.handlers_for(event_type) for event_type in TYPES)


@pytest.mark.parametrize("event_type", TYPES)
def test_a_minimal_event_the_door_accepts_is_processed(deliver, world, event_type):
    event = process(deliver(world(minimal_envelope(event_type))))
    assert event.status == "processed", event.last_error


@pytest.mark.parametrize(
    "event_type, field",
    [(event_type, field) for event_type in TYPES for field in required_fields(event_type)],
)
def test_each_field_a_handler_requires_is_refused_at_the_door_when_missing(
    deliver, event_type, field
):
    envelope = minimal_envelope(event_type)
    del envelope["data"][field]
    response = deliver(envelope)
    assert response.status_code == 422, response.content
    assert f"data.{field}" in response.json()["errors"]
    assert InboundEvent.objects.get().status == "invalid"  # kept, never queued


@pytest.mark.parametrize("event_type", TYPES)
def test_an_event_without_its_occurrence_time_is_refused_at_the_door(deliver, event_type):
    envelope = minimal_envelope(event_type)
    del envelope["timestamp"]  # handlers date the facts they record with it
    assert "timestamp" in deliver(envelope).json()["errors"]


def test_a_registration_without_a_brand_is_a_422_not_a_dead_letter(deliver):
    envelope = load_fixture("player_registered.json")
    del envelope["data"]["brand"]
    response = deliver(envelope)
    assert response.status_code == 422
    assert response.json()["errors"] == {"data.brand": ["This field is required."]}


COLUMN_LIMITS = [
    (event_type, field, rule.max_length)
    for event_type in TYPES
    for field, rule in sorted(registry.limits_for(event_type).items())
    if rule.key_pattern is None
]


def test_the_column_limits_come_from_the_models():
    limits = registry.limits_for("player.registered")
    assert limits["tracking_token"].max_length == 64  # Player.tracking_token
    assert limits["player_id"].max_length == 200  # IdentifierMapping.external_id
    assert registry.limits_for("trade.closed")["symbol"].max_length == 64  # Trade.symbol


@pytest.mark.parametrize("event_type, field, max_length", COLUMN_LIMITS)
def test_a_text_longer_than_its_column_is_refused_at_the_door(
    deliver, event_type, field, max_length
):
    envelope = load_fixture(event_type.replace(".", "_") + ".json")
    envelope["data"][field] = "x" * (max_length + 1)
    response = deliver(envelope)
    assert response.status_code == 422, response.content
    assert f"data.{field}" in response.json()["errors"]  # the schema's own limit, or the column's


@pytest.mark.parametrize("event_type, field, max_length", COLUMN_LIMITS)
def test_a_text_that_fills_its_column_is_processed(deliver, world, event_type, field, max_length):
    envelope = load_fixture(event_type.replace(".", "_") + ".json")
    envelope["data"][field] = "x" * max_length
    event = process(deliver(world(envelope)))
    assert event.status == "processed", event.last_error


@pytest.mark.parametrize(
    "identifiers, error",
    [
        ({"crm": "x" * 201}, "data.identifiers.crm"),
        ({"CRM!": "C-1"}, "data.identifiers"),
        ({"s" * 41: "C-1"}, "data.identifiers"),
    ],
)
def test_identifiers_that_cannot_become_mappings_are_refused_at_the_door(
    deliver, identifiers, error
):
    envelope = load_fixture("player_registered.json")
    envelope["data"]["identifiers"] = identifiers
    response = deliver(envelope)
    assert response.status_code == 422, response.content
    assert error in response.json()["errors"]


@pytest.mark.parametrize("value", [" ", "\t"])
def test_a_required_text_of_only_whitespace_is_refused(deliver, value):
    envelope = load_fixture("trade_closed.json")
    envelope["data"]["symbol"] = value
    assert "data.symbol" in deliver(envelope).json()["errors"]


def test_a_self_exclusion_that_ends_before_it_starts_is_refused(deliver):
    envelope = load_fixture("self_exclusion_started.json")
    envelope["data"]["ends_at"] = envelope["data"]["starts_at"]
    assert deliver(envelope).json()["errors"] == {"data.ends_at": ["Must be after starts_at."]}
