"""Inbound webhooks (WEBHOOKS.md §1): verify, validate, store, answer. Nothing else.

Plain Django views rather than DRF on purpose: this is the hottest path in the system and DRF's
negotiation, parsers and renderers cost more than the rest of the request (PERFORMANCE.md).
Order of checks: method (405), integration (404, 403), content type (415), size (413), headers
and signature on the raw bytes (401), throttle (429), JSON object (400), bounds (nesting deeper
than apps.core.bounded.MAX_JSON_DEPTH, NUL characters: 422 naming the field), envelope and
payload (422, stored as `invalid`), then the idempotent store: 202 accepted, 200 duplicate,
409 conflict. Every signed body that gets past the throttle is stored, even when rejected: a
body out of bounds is kept as text, never as a jsonb document.
"""

from __future__ import annotations

import hashlib
import time

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from apps.core import conf
from apps.core.api.problems import PROBLEM_CONTENT_TYPE, problem_body
from apps.core.bounded import json_violations
from apps.integrations.inbound import services, verification
from apps.integrations.inbound.throttle import throttle_retry_after
from apps.integrations.inbound.verification import (
    IntegrationAuth,
    SignatureError,
    SignatureMismatch,
)
from apps.integrations.models import EventSource, EventStatus

_JSON = "application/json"


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type=_JSON)


def _problem(status: int, detail: str, *, errors=None, headers=None, **extra) -> HttpResponse:
    response = HttpResponse(
        orjson.dumps(problem_body(status, detail, errors=errors, **extra)),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class _Rejected(Exception):
    def __init__(self, response: HttpResponse):
        self.response = response


def _unauthorized(exc: SignatureError) -> HttpResponse:
    return _problem(
        401, f"Signature verification failed: {exc}", headers={"WWW-Authenticate": "Webhook"}
    )


def _is_json_content_type(request: HttpRequest) -> bool:
    content_type = request.META.get("CONTENT_TYPE", "").split(";", 1)[0].strip().lower()
    return content_type == _JSON or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _authenticated_body(
    request: HttpRequest, slug: str, *, max_bytes: int
) -> tuple[IntegrationAuth, bytes, str]:
    """Run the checks up to the throttle. Returns (integration, raw body, webhook id)."""
    auth = verification.integration_auth(slug)
    if auth is None:
        raise _Rejected(_problem(404, f"No integration {slug!r}."))
    if not auth.is_active:
        raise _Rejected(_problem(403, f"Integration {slug!r} is disabled."))
    if not _is_json_content_type(request):
        raise _Rejected(_problem(415, "Send the body as application/json."))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:
        raise _Rejected(_problem(413, f"The body is larger than {max_bytes} bytes."))
    body = request.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise _Rejected(_problem(413, f"The body is larger than {max_bytes} bytes."))

    meta = request.META
    headers = {
        "webhook_id": meta.get("HTTP_WEBHOOK_ID"),
        "timestamp": meta.get("HTTP_WEBHOOK_TIMESTAMP"),
        "signature": meta.get("HTTP_WEBHOOK_SIGNATURE"),
    }
    now = time.time()
    try:
        verification.verify(**headers, body=body, keys=auth.usable_keys(timezone.now()), now=now)
    except SignatureMismatch as exc:
        # Maybe a secret rotated in another process: look again once before refusing.
        fresh = verification.integration_auth(slug, fresh=True)
        if fresh is None or not fresh.is_active or fresh.keys == auth.keys:
            raise _Rejected(_unauthorized(exc)) from exc
        try:
            verification.verify(
                **headers, body=body, keys=fresh.usable_keys(timezone.now()), now=now
            )
        except SignatureError as again:
            raise _Rejected(_unauthorized(again)) from again
        auth = fresh
    except SignatureError as exc:
        raise _Rejected(_unauthorized(exc)) from exc

    retry_after = throttle_retry_after(auth.id, now=now)
    if retry_after is not None:
        raise _Rejected(
            _problem(
                429,
                "Too many requests for this integration; retry later.",
                headers={"Retry-After": str(retry_after)},
            )
        )
    return auth, body, headers["webhook_id"]


def _parse_object(body: bytes):
    """(object, None) or (None, reason) when the body is not a JSON object. orjson refuses
    documents nested deeper than 1,024 levels (unreadable: 400); shallower ones that are still
    too deep are refused field by field (422) by the envelope's validation."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return None, f"The body is not valid JSON: {exc}"
    if not isinstance(parsed, dict):
        return None, "The body must be a JSON object."
    return parsed, None


@csrf_exempt
def webhook(request: HttpRequest, slug: str) -> HttpResponse:
    """POST /api/v1/webhooks/<slug>/: one event."""
    if request.method != "POST":
        return _problem(405, "Use POST.", headers={"Allow": "POST"})
    try:
        auth, body, webhook_id = _authenticated_body(
            request, slug, max_bytes=conf.integer("AFFILIATEHUB_WEBHOOK_MAX_BODY_BYTES")
        )
    except _Rejected as rejected:
        return rejected.response

    digest = hashlib.sha256(body).hexdigest()
    envelope, unreadable = _parse_object(body)
    if unreadable:
        event = services.unreadable_body_event(
            webhook_id=webhook_id, body=body, body_hash=digest, reason=unreadable
        )
    else:
        event = services.incoming_event(
            integration_kind=auth.kind,
            webhook_id=webhook_id,
            envelope=envelope,
            body_hash=digest,
            payload_json=body.decode(),
        )
    result = services.inbound_event_store(
        integration_id=auth.id, event=event, source=EventSource.WEBHOOK
    )

    if result.outcome == services.CONFLICT:
        return _problem(
            409,
            "This webhook-id was already stored with a different body; the new body is kept for "
            "review.",
            event_id=result.event_id,
        )
    if unreadable:
        return _problem(400, unreadable, event_id=result.event_id)
    if result.status == EventStatus.INVALID:
        detail = "The event is invalid; it is stored and can be replayed once corrected."
        if result.outcome == services.DUPLICATE:
            detail = "This webhook-id was already stored as invalid; see errors."
        return _problem(422, detail, errors=result.errors, event_id=result.event_id)
    if result.outcome == services.DUPLICATE:
        return _json(200, {"status": "duplicate", "event_id": result.event_id})
    return _json(202, {"status": "accepted", "event_id": result.event_id})


@csrf_exempt
def webhook_batch(request: HttpRequest, slug: str) -> HttpResponse:
    """POST /api/v1/webhooks/<slug>/batch/: {"events": [{id, type, timestamp, data}, ...]}.

    Signed as a whole; each item is idempotent on its own `id`. Answers 202 when at least one
    item was accepted, else 200, with counts and the index and errors of each invalid or
    conflicting item. A batch that is not an object with an `events` list (of at most
    AFFILIATEHUB_WEBHOOK_BATCH_MAX_EVENTS) is stored whole as one invalid event and refused.
    """
    if request.method != "POST":
        return _problem(405, "Use POST.", headers={"Allow": "POST"})
    try:
        auth, body, batch_id = _authenticated_body(
            request, slug, max_bytes=conf.integer("AFFILIATEHUB_WEBHOOK_BATCH_MAX_BODY_BYTES")
        )
    except _Rejected as rejected:
        return rejected.response

    digest = hashlib.sha256(body).hexdigest()
    batch, unreadable = _parse_object(body)
    max_events = conf.integer("AFFILIATEHUB_WEBHOOK_BATCH_MAX_EVENTS")
    items = batch.get("events") if batch is not None else None
    if unreadable or not isinstance(items, list) or not items or len(items) > max_events:
        if unreadable:
            event = services.unreadable_body_event(
                webhook_id=batch_id, body=body, body_hash=digest, reason=unreadable
            )
            status, detail, errors = 400, unreadable, None
        else:
            errors = {"events": [f"Required: a non-empty list of at most {max_events} events."]}
            out_of_bounds = json_violations(batch)
            errors.update(out_of_bounds)
            event = services.IncomingEvent(  # out of bounds: kept as text only
                webhook_id=batch_id,
                body_hash=digest,
                payload={} if out_of_bounds else batch,
                payload_json="" if out_of_bounds else body.decode(),
                raw_body=body.decode() if out_of_bounds else "",
                status=EventStatus.INVALID,
                errors=errors,
            )
            status, detail = 422, "The batch is invalid; see errors."
        result = services.inbound_event_store(
            integration_id=auth.id, event=event, source=EventSource.BATCH
        )
        if result.outcome == services.CONFLICT:
            return _problem(
                409,
                "This webhook-id was already stored with a different body.",
                event_id=result.event_id,
            )
        return _problem(status, detail, errors=errors, event_id=result.event_id)

    events = []
    for index, item in enumerate(items):
        item_id = item.get("id") if isinstance(item, dict) else None
        if not services.usable_event_id(item_id, max_length=verification.MAX_WEBHOOK_ID_LENGTH):
            item_id = f"{batch_id}#{index}"[: verification.MAX_WEBHOOK_ID_LENGTH]
        events.append(
            services.incoming_event(
                integration_kind=auth.kind,
                webhook_id=item_id,
                envelope=item,
                body_hash=services.item_hash(item),
                require_id=True,
            )
        )
    results = services.inbound_events_store(
        integration_id=auth.id, events=events, source=EventSource.BATCH
    )

    counts = {"accepted": 0, "duplicate": 0, "invalid": 0, "conflict": 0}
    invalid_items, conflict_items = [], []
    for index, (event, result) in enumerate(zip(events, results, strict=True)):
        if result.outcome == services.CONFLICT:
            counts["conflict"] += 1
            conflict_items.append(
                {"index": index, "id": event.webhook_id, "event_id": result.event_id}
            )
        elif result.status == EventStatus.INVALID:
            counts["invalid"] += 1
            invalid_items.append(
                {
                    "index": index,
                    "id": event.webhook_id,
                    "event_id": result.event_id,
                    "errors": result.errors,
                }
            )
        else:
            counts[result.outcome] += 1
    return _json(
        202 if counts["accepted"] else 200,
        {
            "status": "processed",
            **counts,
            "invalid_items": invalid_items,
            "conflict_items": conflict_items,
        },
    )
