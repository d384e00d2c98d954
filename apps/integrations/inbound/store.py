"""The inbound event store: an incoming event's shape, its hashes and the one idempotent store
(batch insert, duplicate and conflict detection, schema warnings)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import psycopg
from django.db import connection, transaction
from django.utils import timezone

from apps.core.bounded import NUL, json_clipped
from apps.integrations.inbound import dispatch, partitions
from apps.integrations.inbound.schemas import validate_envelope
from apps.integrations.models import InboundConflict, InboundEvent, SchemaWarningSeen

logger = logging.getLogger(__name__)


MAX_ERROR_CHARS = 4000

Status = InboundEvent.Status


class InboundEventError(ValueError):
    """An inbound event cannot make the requested move (e.g. replaying a processed event)."""


# ---------------------------------------------------------------------------------------------
# The inbound event store


@dataclass(frozen=True)
class IncomingEvent:
    """One event as it arrives, before storage.

    `payload` is the envelope as received; `status` is `received` or `invalid` (with `errors`).
    When the body was not a JSON object, `payload` is empty and `raw_body` keeps the text.
    """

    webhook_id: str
    body_hash: str
    payload: dict
    event_type: str = ""
    occurred_at: dt.datetime | None = None
    status: str = Status.RECEIVED
    errors: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    raw_body: str = ""
    # The payload's JSON text when the caller has it (a single webhook's body): stored as sent,
    # numbers exact, and no re-serialisation. Otherwise `payload` is serialised.
    payload_json: str = ""


@dataclass(frozen=True)
class StoreResult:
    """What happened to one incoming event.

    outcome: `accepted` (new row), `duplicate` (same id and body already stored) or `conflict`
    (same id, different body: kept as an InboundConflict). `status`/`errors` are those of the
    stored event (for duplicates: of the original); `archived` (errors empty) when the
    original's month was archived and its row is in the archive file only.
    """

    event_id: int
    outcome: str
    status: str
    errors: dict


ACCEPTED, DUPLICATE, CONFLICT = "accepted", "duplicate", "conflict"
ARCHIVED = "archived"  # StoreResult.status of a duplicate whose original was archived


def body_hash(body: bytes) -> str:
    """SHA-256 of a raw body, as stored in `InboundEvent.body_hash` (the sandbox's demo feed)."""
    return hashlib.sha256(body).hexdigest()


def item_hash(item) -> str:
    """Hash of a batch/poll item: its canonical JSON (sorted keys), independent of formatting.

    An item nested deeper than orjson writes (254 levels; refused as invalid anyway) is hashed
    as its clipped copy, the one that is stored."""
    try:
        canonical = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        canonical = orjson.dumps(json_clipped(item), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def usable_event_id(value, *, max_length: int) -> bool:
    """Whether a sender's event id (batch or poll item `id`) can be stored as the webhook id."""
    return isinstance(value, str) and 0 < len(value) <= max_length and NUL not in value


def incoming_event(
    *,
    integration_kind: str,
    webhook_id: str,
    envelope,
    body_hash: str,
    require_id: bool = False,
    payload_json: str = "",
) -> IncomingEvent:
    """Validate an envelope and shape it for the store (invalid envelopes are stored too).

    An envelope out of bounds (nested too deep, NUL characters) is stored as `invalid` in a
    form that cannot hurt what reads it later: a single webhook's body as text (`raw_body`,
    all of it, NUL escapes included), a batch or poll item as its clipped copy (deep parts
    replaced by a marker, NULs by U+FFFD)."""
    result = validate_envelope(envelope, kind=integration_kind, require_id=require_id)
    is_object = isinstance(envelope, dict)
    payload, raw_body = (envelope, "") if is_object else ({}, _json_text(json_clipped(envelope)))
    if result.out_of_bounds:
        payload, raw_body = ({}, payload_json) if payload_json else (json_clipped(envelope), "")
        payload_json = ""
    return IncomingEvent(
        webhook_id=webhook_id,
        body_hash=body_hash,
        payload=payload,
        payload_json=payload_json if is_object else "",
        raw_body=raw_body,
        event_type=result.event_type,
        occurred_at=result.occurred_at,
        status=Status.RECEIVED if result.is_valid else Status.INVALID,
        errors=result.errors,
        warnings=result.warnings,
    )


def _json_text(value) -> str:
    return orjson.dumps(value).decode()


def unreadable_body_event(
    *, webhook_id: str, body: bytes, body_hash: str, reason: str
) -> IncomingEvent:
    """A signed body that is not a storable JSON object: kept as text, status invalid."""
    text = body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return IncomingEvent(
        webhook_id=webhook_id,
        body_hash=body_hash,
        payload={},
        raw_body=text,
        status=Status.INVALID,
        errors={"non_field_errors": [reason]},
    )


# The event table is partitioned by month (apps.integrations.inbound.partitions) and cannot hold
# a unique key without received_at, so idempotency lives in the key table: one statement inserts
# the keys (ON CONFLICT DO NOTHING), takes each new key's event id from the event table's
# sequence, and inserts the events of the keys it created, nothing else. A key already present,
# even for an event whose month was archived, is a duplicate or a conflict.
# Run on server_bound_cursor(): the arrays travel as binary parameters (%b); the ids are unique
# within one call (inbound_events_store keeps the first of repeated ids).
_INSERT_SQL = """
WITH u AS MATERIALIZED (
    SELECT * FROM unnest(%b::text[], %b::text[], %b::timestamptz[], %b::text[], %b::text[],
                         %b::text[], %b::text[], %b::text[], %b::text[])
    AS u(webhook_id, event_type, occurred_at, payload, raw_body, body_hash, status, warnings,
         errors)
),
k AS (
    INSERT INTO integrations_inboundeventkey (integration_id, webhook_id, event_id, received_at,
                                              body_hash)
    SELECT %s, u.webhook_id, nextval('integrations_inboundevent_id_seq'), %s, u.body_hash FROM u
    ON CONFLICT (integration_id, webhook_id) DO NOTHING
    RETURNING webhook_id, event_id
)
INSERT INTO integrations_inboundevent (
    id, integration_id, webhook_id, event_type, occurred_at, payload, raw_body, body_hash,
    received_at,
    source, status, attempts, next_attempt_at, last_error, warnings, errors,
    parked_system, parked_external_id, parked_at, processed_at
)
SELECT k.event_id, %s, u.webhook_id, u.event_type, u.occurred_at, u.payload::jsonb, u.raw_body,
       u.body_hash,
       %s, %s, u.status, 0, NULL, '', u.warnings::jsonb, u.errors::jsonb, '', '', NULL, NULL
FROM k JOIN u ON u.webhook_id = k.webhook_id
RETURNING id, webhook_id
"""


# The single-event form of _INSERT_SQL: a webhook stores one row per request, and binding
# nine one-element arrays costs more client time than the insert itself.
_INSERT_ONE_SQL = """
WITH k AS (
    INSERT INTO integrations_inboundeventkey (integration_id, webhook_id, event_id, received_at,
                                              body_hash)
    VALUES (%(integration)s, %(webhook_id)s, nextval('integrations_inboundevent_id_seq'), %(now)s,
            %(body_hash)s)
    ON CONFLICT (integration_id, webhook_id) DO NOTHING
    RETURNING webhook_id, event_id
)
INSERT INTO integrations_inboundevent (
    id, integration_id, webhook_id, event_type, occurred_at, payload, raw_body, body_hash,
    received_at,
    source, status, attempts, next_attempt_at, last_error, warnings, errors,
    parked_system, parked_external_id, parked_at, processed_at
)
SELECT k.event_id, %(integration)s, k.webhook_id, %(event_type)s, %(occurred_at)s,
       %(payload)s::jsonb, %(raw_body)s, %(body_hash)s, %(now)s, %(source)s, %(status)s, 0, NULL,
       '', %(warnings)s::jsonb,
       %(errors)s::jsonb, '', '', NULL, NULL
FROM k
RETURNING id, webhook_id
"""


# The stored event of each known key; an event whose month was archived has no row any more:
# its status reads as NULL (see StoreResult) and its body hash comes from the key.
_STORED_SQL = """
SELECT k.event_id, k.webhook_id, k.body_hash, e.status, e.errors
FROM integrations_inboundeventkey k
LEFT JOIN integrations_inboundevent e ON e.id = k.event_id AND e.received_at = k.received_at
WHERE k.integration_id = %s AND k.webhook_id = ANY(%s)
"""


def server_bound_cursor():
    """A Django cursor (errors translated, queries logged) whose parameters PostgreSQL binds,
    whatever DATABASE_SERVER_BINDING says, so that `%b` sends big arrays in binary.

    Quoting the store's arrays of payloads into the SQL text (Django's ClientCursor), or even
    dumping them as text arrays, cost ~50-100 µs per event, more than the insert itself; binary
    arrays cost ~2 µs. The cursor runs on the current connection, inside the current transaction.
    """
    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))


def inbound_event_store(*, integration_id: int, event: IncomingEvent, source: str) -> StoreResult:
    """Store one event idempotently (see `inbound_events_store`)."""
    return inbound_events_store(integration_id=integration_id, events=[event], source=source)[0]


def inbound_events_store(
    *, integration_id: int, events: Sequence[IncomingEvent], source: str
) -> list[StoreResult]:
    """Store events idempotently on (integration, webhook_id); one result per event, in order.

    One `INSERT ... ON CONFLICT DO NOTHING` for all of them; only when some ids already exist
    a second query reads the stored rows. A different body under a stored id is kept as an
    InboundConflict for review. Valid new events are enqueued for processing after commit; call
    inside `transaction.atomic()` to make the store part of a larger transaction.
    """
    if not events:
        return []
    now = timezone.now()
    partitions.partitions_ensure_for(now)
    columns: list[list] = [[] for _ in range(9)]
    first_of_id: set[str] = set()
    for event in events:
        if event.webhook_id in first_of_id:
            continue  # a repeated id inside one call is a duplicate of the first
        first_of_id.add(event.webhook_id)
        for column, value in zip(
            columns,
            (
                event.webhook_id,
                event.event_type,
                event.occurred_at,
                event.payload_json or _json_text(event.payload),
                event.raw_body,
                event.body_hash,
                event.status,
                _json_text(event.warnings),
                _json_text(event.errors),
            ),
            strict=True,
        ):
            column.append(value)
    if len(events) == 1:
        webhook_id, event_type, occurred_at, payload, raw_body, digest, status, warnings, errors = (
            column[0] for column in columns
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _INSERT_ONE_SQL,
                {
                    "integration": integration_id,
                    "webhook_id": webhook_id,
                    "event_type": event_type,
                    "occurred_at": occurred_at,
                    "payload": payload,
                    "raw_body": raw_body,
                    "body_hash": digest,
                    "now": now,
                    "source": source,
                    "status": status,
                    "warnings": warnings,
                    "errors": errors,
                },
            )
            inserted = {webhook_id: event_id for event_id, webhook_id in cursor.fetchall()}
    else:
        with server_bound_cursor() as cursor:
            cursor.execute(
                _INSERT_SQL, [*columns, integration_id, now, integration_id, now, source]
            )
            inserted = {webhook_id: event_id for event_id, webhook_id in cursor.fetchall()}

    results: list[StoreResult | None] = [None] * len(events)
    claimed: set[str] = set()
    missing: list[int] = []
    for index, event in enumerate(events):
        event_id = inserted.get(event.webhook_id)
        if event_id is not None and event.webhook_id not in claimed:
            claimed.add(
                event.webhook_id
            )  # a repeated id inside one batch is a duplicate of the first
            results[index] = StoreResult(event_id, ACCEPTED, event.status, event.errors)
        else:
            missing.append(index)

    if missing:
        with connection.cursor() as cursor:  # plain SQL: duplicates are common (sender retries)
            cursor.execute(
                _STORED_SQL, [integration_id, sorted({events[i].webhook_id for i in missing})]
            )
            stored = {
                webhook_id: (
                    event_id,
                    webhook_id,
                    digest,
                    status or ARCHIVED,
                    (orjson.loads(errors) if isinstance(errors, str) else errors) or {},
                )
                for event_id, webhook_id, digest, status, errors in cursor.fetchall()
            }
        conflicts = []
        for index in missing:
            event = events[index]
            event_id, _, stored_hash, status, errors = stored[event.webhook_id]
            if stored_hash == event.body_hash:
                results[index] = StoreResult(event_id, DUPLICATE, status, errors)
            else:
                results[index] = StoreResult(event_id, CONFLICT, status, errors)
                conflicts.append(
                    InboundConflict(
                        integration_id=integration_id,
                        original_id=event_id,
                        webhook_id=event.webhook_id,
                        body_hash=event.body_hash,
                        payload=event.payload,
                        raw_body=event.raw_body,
                        source=source,
                        received_at=now,
                    )
                )
        if conflicts:
            InboundConflict.objects.bulk_create(conflicts)
            logger.warning(
                "Integration %s reused %d webhook id(s) with a different body.",
                integration_id,
                len(conflicts),
            )

    accepted = [
        (result.event_id, event)
        for result, event in zip(results, events, strict=True)
        if result.outcome == ACCEPTED
    ]
    to_process = [
        (event_id, event.event_type)
        for event_id, event in accepted
        if event.status == Status.RECEIVED
    ]
    if to_process:
        transaction.on_commit(lambda: dispatch.announce_events(to_process))
    if any(event.warnings for _, event in accepted):
        _record_schema_warnings(integration_id, accepted)
    return results  # type: ignore[return-value]


# Fields already recorded by this process, so a known warning costs no query.
_warnings_seen: set[tuple[int, str, str]] = set()


def _record_schema_warnings(integration_id: int, accepted: list[tuple[int, IncomingEvent]]) -> None:
    """Log each unknown field once per integration (and event type), keeping a row per field."""
    fresh: dict[tuple[int, str, str], int] = {}
    for event_id, event in accepted:
        for warning in event.warnings:
            key = (integration_id, event.event_type, warning["field"])
            if key not in _warnings_seen and key not in fresh:
                fresh[key] = event_id
    if not fresh:
        return
    created = SchemaWarningSeen.objects.bulk_create(
        [
            SchemaWarningSeen(integration_id=i, event_type=t, field=f, example_event_id=event_id)
            for (i, t, f), event_id in fresh.items()
        ],
        ignore_conflicts=True,
    )
    del created  # ignore_conflicts returns every object; what is new is told by the log below
    for key in fresh:
        if key not in _warnings_seen:
            _warnings_seen.add(key)
            logger.warning(
                "Integration %s sent unknown field %r in %s events; accepted and ignored.",
                key[0],
                key[2],
                key[1] or "?",
            )
