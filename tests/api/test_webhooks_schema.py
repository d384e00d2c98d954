"""The inbound webhook endpoints in the OpenAPI schema (apps/integrations/api/schema.py)."""

import datetime as dt
import json
import time

import pytest
from django.core.cache import caches

from apps.integrations import accounts
from apps.integrations.inbound import verification
from apps.integrations.inbound.schemas import EVENT_SERIALIZERS
from apps.integrations.models import InboundEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def openapi(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.mark.parametrize("path", ["/api/v1/webhooks/{slug}/", "/api/v1/webhooks/{slug}/batch/"])
def test_both_webhook_operations_document_every_answer_of_the_contract(openapi, path):
    operation = openapi["paths"][path]["post"]
    assert set(openapi["paths"][path]) == {"post"}
    assert {"200", "202", "400", "401", "403", "404", "409", "413", "415", "422", "429"} <= set(
        operation["responses"]
    )
    for status, response in operation["responses"].items():
        (media_type,) = response["content"]
        assert media_type == (
            "application/json" if status in ("200", "202") else "application/problem+json"
        )
    assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header" and p["required"]}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "security" not in operation or operation["security"] in ([], [{}])


def test_envelope_is_one_of_the_canonical_types(openapi):
    schemas = openapi["components"]["schemas"]
    refs = [option["$ref"].rsplit("/", 1)[1] for option in schemas["WebhookEnvelope"]["oneOf"]]
    documented = {}
    for name in refs:
        type_schema = schemas[name]["properties"]["type"]
        if "$ref" in type_schema:
            type_schema = schemas[type_schema["$ref"].rsplit("/", 1)[1]]
        (event_type,) = type_schema["enum"]
        documented[event_type] = schemas[name]["properties"]["data"]
    assert set(documented) == set(EVENT_SERIALIZERS)
    deposit = documented["deposit.created"]
    assert set(deposit["required"]) == {"deposit_id", "player_id", "amount", "currency"}
    assert deposit["properties"]["currency"]["pattern"] == "^[A-Z]{3}$"


def test_the_schema_leaves_the_webhook_views_as_they_are(client):
    from django.urls import resolve

    from apps.integrations.api import views

    assert resolve("/api/v1/webhooks/crm-main/").func is views.webhook
    assert resolve("/api/v1/webhooks/crm-main/batch/").func is views.webhook_batch


def test_a_far_utc_offset_in_a_signed_envelope_is_not_a_server_error(client, settings):
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    _, secret = accounts.integration_create(slug="offset-crm", kind="crm")
    caches["default"].clear()
    body = json.dumps(
        {
            "type": "deposit.created",
            "timestamp": "2026-11-27T10:15:00+22:55",
            "data": {"deposit_id": "D-1", "player_id": "C-1", "amount": "5.00", "currency": "EUR"},
        }
    ).encode()
    now = int(time.time())
    client.raise_request_exception = False
    try:
        response = client.post(
            "/api/v1/webhooks/offset-crm/",
            data=body,
            content_type="application/json",
            HTTP_WEBHOOK_ID="msg-offset",
            HTTP_WEBHOOK_TIMESTAMP=str(now),
            HTTP_WEBHOOK_SIGNATURE=verification.sign(
                verification.decode_secret(secret), "msg-offset", now, body
            ),
        )
    finally:
        verification.forget("offset-crm")
    # Offsets beyond PostgreSQL's +-15:59 are valid ISO 8601: the time is stored in UTC.
    assert response.status_code == 202, response.content
    event = InboundEvent.objects.get(webhook_id="msg-offset")
    assert event.occurred_at == dt.datetime(2026, 11, 26, 11, 20, tzinfo=dt.UTC)


def test_a_time_that_overflows_when_converted_to_utc_is_invalid_not_a_crash():
    from apps.integrations.inbound.schemas import validate_envelope

    result = validate_envelope(
        {
            "type": "deposit.created",
            "timestamp": "0001-01-01T00:30:00+05:00",
            "data": {"deposit_id": "D-1", "player_id": "C-1", "amount": "5.00", "currency": "EUR"},
        },
        kind="crm",
    )
    assert not result.is_valid
    assert result.errors["timestamp"] == ["The time is out of range once converted to UTC."]


def test_the_spectacular_command_writes_the_schema_that_is_served(openapi, tmp_path):
    from django.core.management import call_command

    target = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(target))
    written = json.loads(target.read_text())
    assert "/api/v1/webhooks/{slug}/batch/" in written["paths"]
    assert written["paths"] == openapi["paths"]
    assert written["components"]["schemas"].keys() == openapi["components"]["schemas"].keys()
