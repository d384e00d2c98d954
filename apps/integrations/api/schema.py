"""The inbound webhook endpoints in the OpenAPI schema (WEBHOOKS.md §1), without touching them.

`views.webhook` and `views.webhook_batch` are plain Django functions on purpose (the hot path),
so drf-spectacular's enumerator, which only sees DRF views, skips them. The preprocessing hook
below finds their routes in the URLconf and adds one endpoint per route whose callback is a
schema-only APIView (`WebhookSchemaView`, `WebhookBatchSchemaView`): those classes are never
routed and never answer a request; they only carry the `@extend_schema` description. The
runtime views stay exactly as they are.

The request bodies are built from the validators themselves (`schemas.EVENT_SERIALIZERS`): one
envelope per event type, combined with `oneOf` (the `type` enum tells them apart), so the
documentation cannot drift from what the store accepts. Every answer of the §1 table is
documented, errors as `application/problem+json`.

Wired in through SPECTACULAR_SETTINGS (PREPROCESSING_HOOKS / POSTPROCESSING_HOOKS), so the
served schema and `manage.py spectacular` are the same document.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from apps.core import conf
from apps.core.bounded import MAX_JSON_DEPTH
from apps.integrations.api import views
from apps.integrations.inbound import registry, schemas, verification

PROBLEM = "application/problem+json"
_SCHEMAS = "#/components/schemas/"

# --------------------------------------------------------------------------------------------
# Component schemas: envelopes per event type, built from the serializers that validate them


def _field_schema(
    field: serializers.Field, column: registry.FieldLimit | None = None
) -> dict[str, Any]:
    if isinstance(field, schemas.DecimalAmountField):
        schema = {
            "type": "string",
            "pattern": r"^[+-]?[0-9]{1,12}(\.[0-9]{1,8})?$",
            "description": "Decimal string of ASCII digits (JSON floats and other digits are "
            "refused).",
            "example": "50.00",
        }
    elif isinstance(field, schemas.PatternCodeField):
        schema = {"type": "string", "pattern": f"^{field.pattern.pattern}$"}
    elif isinstance(field, schemas.ExternalIdField):
        schema = {
            "type": "string",
            "minLength": 1,
            "maxLength": schemas.MAX_ID_LENGTH,
            "pattern": r"\S",
        }
    elif isinstance(field, schemas.AwareDateTimeField):
        schema = {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with an offset or Z.",
        }
    elif isinstance(field, schemas.IsoDateField):
        schema = {"type": "string", "format": "date"}
    elif isinstance(field, schemas.IdentifiersField):
        schema = {
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "minLength": 1,
                "maxLength": schemas.MAX_ID_LENGTH,
            },
            "description": '{identifier system: id}, e.g. {"crm": "C-1", "mt5-live": "50123"}.',
        }
    elif isinstance(field, serializers.ChoiceField):
        schema = {"type": "string", "enum": list(field.choices)}
    elif isinstance(field, serializers.CharField):
        schema = {"type": "string"}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.required and not field.allow_blank:
            schema.update(minLength=1, pattern=r"\S")  # more than whitespace
    else:  # pragma: no cover - a new field type: document it loosely rather than fail
        schema = {}
    if column is not None:  # the column a handler stores it in (registry.limit)
        if schema.get("type") == "object":
            schema["additionalProperties"]["maxLength"] = min(
                column.max_length,
                schema["additionalProperties"].get("maxLength", column.max_length),
            )
            if column.key_pattern is not None:  # OpenAPI 3.0 has no propertyNames: said in words
                schema["description"] += (
                    f" Each identifier system matches `{column.key_pattern.pattern}`."
                )
        else:
            schema["maxLength"] = min(column.max_length, schema.get("maxLength", column.max_length))
    if not field.required:
        schema["nullable"] = True
    return schema


def _component_name(event_type: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type)) + "Envelope"


def _envelope(event_type: str) -> dict[str, Any]:
    fields = schemas.EVENT_SERIALIZERS[event_type]().fields
    columns = registry.limits_for(event_type)
    return {
        "type": "object",
        "required": ["type", "timestamp", "data"],
        "properties": {
            "type": {"type": "string", "enum": [event_type]},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "When it happened (ISO 8601).",
            },
            "data": {
                "type": "object",
                "required": [name for name, field in fields.items() if field.required],
                "properties": {
                    name: _field_schema(field, columns.get(name)) for name, field in fields.items()
                },
                "additionalProperties": True,
                "description": "Unknown fields are accepted and recorded as schema warnings.",
            },
        },
        "additionalProperties": True,
    }


_BOUNDS = (
    f"At most {MAX_JSON_DEPTH} levels of nested objects and arrays (the envelope itself is the "
    "first), "
    "no NUL character (\\u0000) in any key or string, and no text longer than the column that "
    "keeps it "
    "(`maxLength`): anything else is refused (422, `errors` naming the field)."
)

_ITEM_ID = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {
            "type": "string",
            "minLength": 1,
            "maxLength": schemas.MAX_ID_LENGTH,
            "description": "The source's stable event id: this item's idempotency key.",
        }
    },
}


def _components() -> dict[str, Any]:
    types = sorted(schemas.EVENT_SERIALIZERS)
    components: dict[str, Any] = {}
    for event_type in types:
        components[_component_name(event_type)] = _envelope(event_type)
    components["WebhookEnvelope"] = {
        "oneOf": [{"$ref": _SCHEMAS + _component_name(t)} for t in types],
        "description": (
            f"One canonical event (WEBHOOKS.md §2); `type` selects the shape of `data`. {_BOUNDS}"
        ),
    }
    components["WebhookBatchItem"] = {
        "oneOf": [{"allOf": [{"$ref": _SCHEMAS + _component_name(t)}, _ITEM_ID]} for t in types],
        "description": "One canonical event with its own `id`.",
    }
    max_events = conf.integer("AFFILIATEHUB_WEBHOOK_BATCH_MAX_EVENTS")
    components["WebhookBatch"] = {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": max_events,
                "items": {"$ref": _SCHEMAS + "WebhookBatchItem"},
            }
        },
    }
    components["WebhookReceipt"] = {
        "type": "object",
        "required": ["status", "event_id"],
        "properties": {
            "status": {"type": "string", "enum": ["accepted", "duplicate"]},
            "event_id": {
                "type": "integer",
                "description": "Our id of the stored event (see /events/).",
            },
        },
    }
    item = {
        "type": "object",
        "required": ["index", "id", "event_id"],
        "properties": {
            "index": {"type": "integer", "minimum": 0},
            "id": {"type": "string"},
            "event_id": {"type": "integer"},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    }
    components["WebhookBatchReceipt"] = {
        "type": "object",
        "required": [
            "status",
            "accepted",
            "duplicate",
            "invalid",
            "conflict",
            "invalid_items",
            "conflict_items",
        ],
        "properties": {
            "status": {"type": "string", "enum": ["processed"]},
            "accepted": {"type": "integer", "minimum": 0},
            "duplicate": {"type": "integer", "minimum": 0},
            "invalid": {
                "type": "integer",
                "minimum": 0,
                "description": "Stored as invalid (see invalid_items).",
            },
            "conflict": {
                "type": "integer",
                "minimum": 0,
                "description": "Same id, different body (kept for review).",
            },
            "invalid_items": {"type": "array", "items": item},
            "conflict_items": {"type": "array", "items": item},
        },
    }
    components["WebhookProblem"] = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": "Messages per field (422).",
            },
            "event_id": {
                "type": "integer",
                "description": "The stored event (400, 409, 422): nothing sent is lost.",
            },
        },
        "description": "RFC 9457 problem details.",
    }
    return components


# --------------------------------------------------------------------------------------------
# The two operations

_SIGNATURE_HEADERS = [
    OpenApiParameter(
        "webhook-id",
        location=OpenApiParameter.HEADER,
        required=True,
        description="Stable across retries: the idempotency key (1-255 visible ASCII characters).",
        type={"type": "string", "minLength": 1, "maxLength": verification.MAX_WEBHOOK_ID_LENGTH},
    ),
    OpenApiParameter(
        "webhook-timestamp",
        location=OpenApiParameter.HEADER,
        required=True,
        description="Unix seconds of this attempt; refused more than 300 s away from our clock.",
        type={"type": "string", "pattern": r"^[0-9]{1,12}$", "example": "1764238500"},
    ),
    OpenApiParameter(
        "webhook-signature",
        location=OpenApiParameter.HEADER,
        required=True,
        description=(
            "Space-separated `v1,<base64 HMAC-SHA256>` of `{webhook-id}.{webhook-timestamp}.{raw "
            "body}` with "
            "the integration's secret (`whsec_` removed, base64-decoded). Any active secret "
            "matches."
        ),
        type={
            "type": "string",
            "maxLength": verification.MAX_SIGNATURE_HEADER_LENGTH,
            "example": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        },
    ),
    OpenApiParameter(
        "WWW-Authenticate",
        location=OpenApiParameter.HEADER,
        response=[401],
        type=str,
        description="`Webhook`: the signature scheme expected.",
    ),
    OpenApiParameter(
        "Retry-After",
        location=OpenApiParameter.HEADER,
        response=[429],
        type=int,
        description="Seconds to wait before retrying.",
    ),
]
_SLUG = OpenApiParameter(
    "slug",
    location=OpenApiParameter.PATH,
    type={"type": "string", "pattern": r"^[-a-zA-Z0-9_]+$"},
    description="The integration's slug, e.g. crm-main.",
)


def _problem(description: str) -> OpenApiResponse:
    return OpenApiResponse({"$ref": _SCHEMAS + "WebhookProblem"}, description=description)


_COMMON_PROBLEMS = {
    (401, PROBLEM): _problem(
        "A signature header is missing or malformed, the timestamp is off by more than 300 s, "
        "or no signature matches an active secret."
    ),
    (403, PROBLEM): _problem("The integration is disabled."),
    (404, PROBLEM): _problem("No such integration."),
    (405, PROBLEM): _problem("Only POST."),
    (409, PROBLEM): _problem(
        "This webhook-id was already stored with a different body (the new body is kept for "
        "review)."
    ),
    (415, PROBLEM): _problem("The body is not sent as application/json."),
    (429, PROBLEM): _problem("Throttled for this integration; retry after `Retry-After` seconds."),
}

_DEPOSIT = {
    "type": "deposit.created",
    "timestamp": "2026-11-27T10:15:00Z",
    "data": {"deposit_id": "D-5512", "player_id": "C-100234", "amount": "50.00", "currency": "EUR"},
}


class _SchemaOnlyView(APIView):
    """Never routed: carries the description of a plain Django view for the schema."""

    authentication_classes: list = []
    permission_classes: list = []
    http_method_names = ["post"]


class WebhookSchemaView(_SchemaOnlyView):
    @extend_schema(
        operation_id="webhooks_receive",
        summary="Receive one signed event",
        description=(
            "Standard Webhooks, symmetric (WEBHOOKS.md §1). The signature is verified on the raw "
            "bytes "
            "before anything parses the body. Idempotent on `webhook-id`. Every signed body that "
            "passes the "
            "throttle is stored, even when refused (400, 409, 422): invalid events are visible and "
            "replayable "
            f"in the admin. {_BOUNDS} A body out of these bounds is kept as text, never queued."
        ),
        parameters=[_SLUG, *_SIGNATURE_HEADERS],
        request={"application/json": {"$ref": _SCHEMAS + "WebhookEnvelope"}},
        responses={
            (202, "application/json"): OpenApiResponse(
                {"$ref": _SCHEMAS + "WebhookReceipt"},
                description="Stored for processing (`status: accepted`).",
            ),
            (200, "application/json"): OpenApiResponse(
                {"$ref": _SCHEMAS + "WebhookReceipt"},
                description="This webhook-id was already stored with the same body (`status: "
                "duplicate`).",
            ),
            (400, PROBLEM): _problem(
                "The body is not a JSON object, or nests deeper than 1,024 levels (stored as "
                "invalid, as text)."
            ),
            (413, PROBLEM): _problem("The body is larger than 1 MiB."),
            (422, PROBLEM): _problem(
                "Envelope or payload invalid (a field the processing needs is missing or "
                "malformed, a text is "
                f"longer than its column, nesting deeper than {MAX_JSON_DEPTH} levels, a NUL "
                "character), or a "
                "type this integration's kind does not send: stored as `invalid` with `errors` per "
                "field."
            ),
            **_COMMON_PROBLEMS,
        },
        examples=[OpenApiExample("A deposit", value=_DEPOSIT, request_only=True)],
        tags=["webhooks"],
    )
    def post(self, request, *args, **kwargs):  # pragma: no cover - schema only
        raise NotImplementedError


class WebhookBatchSchemaView(_SchemaOnlyView):
    @extend_schema(
        operation_id="webhooks_receive_batch",
        summary="Receive a signed batch of events",
        description=(
            "Up to 5,000 events signed as a whole (16 MiB). Each item is idempotent on its own "
            "`id`. "
            "202 when at least one item was accepted, else 200, with counts and the index and "
            "errors of "
            "each invalid or conflicting item. A body that is not an object with a non-empty "
            "`events` list "
            "is stored whole as one invalid event and refused (400/422). Each item is held to the "
            "bounds of a "
            f"single event ({MAX_JSON_DEPTH} levels counted from the item, no NUL, column "
            "lengths); an item out "
            "of bounds is invalid on its own and kept with its deep parts replaced by a marker."
        ),
        parameters=[_SLUG, *_SIGNATURE_HEADERS],
        request={"application/json": {"$ref": _SCHEMAS + "WebhookBatch"}},
        responses={
            (202, "application/json"): OpenApiResponse(
                {"$ref": _SCHEMAS + "WebhookBatchReceipt"},
                description="At least one item was accepted.",
            ),
            (200, "application/json"): OpenApiResponse(
                {"$ref": _SCHEMAS + "WebhookBatchReceipt"},
                description="No item was new (duplicates, invalid, conflicts).",
            ),
            (400, PROBLEM): _problem("The body is not a JSON object."),
            (413, PROBLEM): _problem("The body is larger than 16 MiB."),
            (422, PROBLEM): _problem("No `events` list, an empty one, or more than 5,000 events."),
            **_COMMON_PROBLEMS,
        },
        examples=[
            OpenApiExample(
                "Two events", value={"events": [{"id": "evt_1", **_DEPOSIT}]}, request_only=True
            )
        ],
        tags=["webhooks"],
    )
    def post(self, request, *args, **kwargs):  # pragma: no cover - schema only
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Hook and settings

_DESCRIBED_BY = {views.webhook: WebhookSchemaView, views.webhook_batch: WebhookBatchSchemaView}


def _routes(patterns, prefix: str = ""):
    """(route, schema view) for every URL pattern served by one of the webhook functions."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern) and pattern.callback in _DESCRIBED_BY:
            yield prefix + str(pattern.pattern), _DESCRIBED_BY[pattern.callback]


def webhook_endpoints(endpoints):
    """drf-spectacular preprocessing hook: add the webhook routes, described by schema-only
    views."""
    enumerator = EndpointEnumerator()
    added = []
    for route, view_class in _routes(get_resolver().url_patterns):
        path = enumerator.get_path_from_regex(route)
        added.append((path, route, "POST", view_class.as_view()))
    return [*endpoints, *added]


def webhook_components(result, generator, **kwargs):
    """drf-spectacular postprocessing hook, before the enum hook: the envelope, receipt and
    problem components, built afresh for each schema (later hooks edit components in place)."""
    for name, schema in _components().items():
        generator.registry.register_on_missing(
            ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, schema=schema, object=name)
        )
    result["components"] = generator.registry.build(spectacular_settings.APPEND_COMPONENTS)
    return result
