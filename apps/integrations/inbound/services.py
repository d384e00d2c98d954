"""Write operations of the integrations app: integrations and secrets, the inbound event store,
processing, parking, replay and the outbox sweeper.

Public entry points used by other code:

- `inbound_event_store(*, integration, event, source)` / `inbound_events_store(...)`: the one
  idempotent store used by the webhook and batch views and by polling connectors.
- `inbound_events_unpark(*, system, external_id) -> int`: called by the mappings side when an
  identifier becomes known.
- `inbound_event_process(*, event_id)`: what the Celery task runs.
- `inbound_event_replay(*, event, acting_user)`: the admin's replay of dead/invalid events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
import psycopg
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import audit_record, snapshot
from apps.core.bounded import NUL, json_clipped
from apps.integrations import conf
from apps.integrations.inbound import dispatch, partitions, registry
from apps.integrations.inbound.registry import EventContext, ParkEvent, RejectEvent
from apps.integrations.inbound.schemas import validate_envelope
from apps.integrations.models import (
    InboundConflict,
    InboundEvent,
    SchemaWarningSeen,
)

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
    AS u(webhook_id, event_type, occurred_at, payload, raw_body, body_hash, status, warnings, errors)
),
k AS (
    INSERT INTO integrations_inboundeventkey (integration_id, webhook_id, event_id, received_at, body_hash)
    SELECT %s, u.webhook_id, nextval('integrations_inboundevent_id_seq'), %s, u.body_hash FROM u
    ON CONFLICT (integration_id, webhook_id) DO NOTHING
    RETURNING webhook_id, event_id
)
INSERT INTO integrations_inboundevent (
    id, integration_id, webhook_id, event_type, occurred_at, payload, raw_body, body_hash, received_at,
    source, status, attempts, next_attempt_at, last_error, warnings, errors,
    parked_system, parked_external_id, parked_at, processed_at
)
SELECT k.event_id, %s, u.webhook_id, u.event_type, u.occurred_at, u.payload::jsonb, u.raw_body, u.body_hash,
       %s, %s, u.status, 0, NULL, '', u.warnings::jsonb, u.errors::jsonb, '', '', NULL, NULL
FROM k JOIN u ON u.webhook_id = k.webhook_id
RETURNING id, webhook_id
"""


# The single-event form of _INSERT_SQL: a webhook stores one row per request, and binding
# nine one-element arrays costs more client time than the insert itself.
_INSERT_ONE_SQL = """
WITH k AS (
    INSERT INTO integrations_inboundeventkey (integration_id, webhook_id, event_id, received_at, body_hash)
    VALUES (%(integration)s, %(webhook_id)s, nextval('integrations_inboundevent_id_seq'), %(now)s, %(body_hash)s)
    ON CONFLICT (integration_id, webhook_id) DO NOTHING
    RETURNING webhook_id, event_id
)
INSERT INTO integrations_inboundevent (
    id, integration_id, webhook_id, event_type, occurred_at, payload, raw_body, body_hash, received_at,
    source, status, attempts, next_attempt_at, last_error, warnings, errors,
    parked_system, parked_external_id, parked_at, processed_at
)
SELECT k.event_id, %(integration)s, k.webhook_id, %(event_type)s, %(occurred_at)s, %(payload)s::jsonb,
       %(raw_body)s, %(body_hash)s, %(now)s, %(source)s, %(status)s, 0, NULL, '', %(warnings)s::jsonb,
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


# ---------------------------------------------------------------------------------------------
# Processing


class NoHandlerRegistered(RuntimeError):
    pass


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: uniform(0, min(cap, base * 2^(attempt-1))), >= 1 s."""
    base = conf.seconds("AFFILIATEHUB_EVENT_RETRY_BASE_SECONDS")
    cap = conf.seconds("AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS")
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return max(1.0, random.uniform(0, ceiling))


def _error_summary(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))
    return text[-MAX_ERROR_CHARS:]


# Outcomes of inbound_event_process.
PROCESSED, PARKED, FAILED, DEAD, INVALID, SKIPPED = (
    "processed",
    "parked",
    "failed",
    "dead",
    "invalid",
    "skipped",
)

# A retry message may arrive a little before next_attempt_at.
_DUE_SLACK = dt.timedelta(seconds=5)


class _HandlersFailed(Exception):
    """A handler raised (ParkEvent and RejectEvent included): `cause` is what it raised."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


class _PayloadUnusable(Exception):
    """Loading or validating the stored event failed before any handler ran: `cause`."""

    def __init__(self, cause: Exception):
        super().__init__(str(cause))
        self.cause = cause


# The database itself failing is not the event's fault: the task retries (tasks.py) and the
# event stays as it was.
_DATABASE_ERRORS = (OperationalError, InterfaceError)


def inbound_event_process(*, event_id: int) -> str:
    """Run the registered handlers of one event, exactly once in effect.

    Locks the event row (skipping it if another worker holds it), ignores events that are not
    `received`/`failed` (already done, parked, dead) or not yet due, then runs every handler and
    the status change in one transaction. When a handler raises (ParkEvent, RejectEvent or a
    failure), that transaction rolls back whole and a second one records the event's new state
    (parked / dead / failed with its retry), so the handlers' writes never survive and the
    success path needs no savepoint. Returns the outcome (processed / parked / failed / dead /
    invalid / skipped).

    This is the per-event boundary: whatever one event raises (in a handler or before one ran,
    RecursionError and MemoryError included) is logged and ends in that event's own
    retry/dead-letter path, so it never stops the worker or the events queued behind it. A
    failure that the same input would raise again (the stored event cannot be loaded or
    validated, or recursion ran out) goes to the dead letters at once, without retries.
    """
    now = timezone.now()
    try:
        return _process_locked(event_id, now)
    except _HandlersFailed as failed:
        cause = failed.cause
        if isinstance(cause, ParkEvent):
            return _record_outcome(event_id, lambda event: _mark_parked(event, cause, now))
        if isinstance(cause, RejectEvent):
            return _record_outcome(event_id, lambda event: _mark_rejected(event, cause))
        # Recorded in last_error and logged, then retried or dead-lettered.
        logger.error("Inbound event %s failed in a handler.", event_id, exc_info=cause)
        if isinstance(cause, RecursionError):
            return _record_outcome(
                event_id, lambda event: _mark_dead(event, cause, "A handler ran out of recursion")
            )
        return _record_outcome(event_id, lambda event: _mark_failed(event, cause, now))
    except _PayloadUnusable as unusable:
        cause = unusable.cause
        logger.error("Inbound event %s could not be loaded or validated.", event_id, exc_info=cause)
        return _record_outcome(
            event_id, lambda event: _mark_dead(event, cause, "The stored event cannot be read")
        )
    except _DATABASE_ERRORS:
        raise
    except Exception as exc:  # the per-event boundary: recorded in last_error, logged, retried
        error = exc
        logger.error("Inbound event %s failed outside its handlers.", event_id, exc_info=error)
        return _record_outcome(event_id, lambda event: _mark_failed(event, error, now))


def _due(event: InboundEvent | None, now: dt.datetime) -> bool:
    if event is None or event.status not in (Status.RECEIVED, Status.FAILED):
        return False
    return not (
        event.status == Status.FAILED
        and event.next_attempt_at
        and event.next_attempt_at > now + _DUE_SLACK
    )


def _process_locked(event_id: int, now: dt.datetime) -> str:
    """The success path, in one transaction; raises _HandlersFailed (rolling everything back)."""
    with transaction.atomic():
        try:
            event = _lock_for_processing(event_id)
            if not _due(event, now):
                return SKIPPED
            validated = validate_envelope(event.payload, kind=event.integration_kind)
        except _DATABASE_ERRORS:
            raise
        except Exception as exc:  # handed to inbound_event_process's per-event boundary
            raise _PayloadUnusable(exc) from exc
        if not validated.is_valid:
            # Only possible if the schema changed since the event was stored, or for a payload
            # out of bounds stored before the door refused such payloads.
            event.status, event.errors, event.next_attempt_at = (
                Status.INVALID,
                validated.errors,
                None,
            )
            event.save(update_fields=["status", "errors", "next_attempt_at"])
            return INVALID

        ctx = EventContext(
            event_id=event.pk,
            integration_id=event.integration_id,
            integration_slug=event.integration_slug,
            integration_kind=event.integration_kind,
            id_system=event.integration_id_system,
            event_type=event.event_type,
            webhook_id=event.webhook_id,
            occurred_at=event.occurred_at,
            data=validated.data,
            raw=event.payload,
        )
        try:
            handlers = registry.handlers_for(event.event_type)
            if not handlers:
                raise NoHandlerRegistered(f"No handler is registered for {event.event_type}.")
            for handler in handlers:
                handler(ctx)
        except Exception as exc:
            raise _HandlersFailed(exc) from exc
        # When the handlers finished (the receipt-to-processed latency in monitoring).
        event.status, event.processed_at = Status.PROCESSED, timezone.now()
        event.next_attempt_at, event.last_error = None, ""
        _save_outcome(event)
    return PROCESSED


def _record_outcome(event_id: int, mark: Callable[[InboundEvent], str]) -> str:
    """After the handlers' transaction rolled back: lock the event again and record `mark`'s
    outcome (skipped if another worker took the event in between)."""
    with transaction.atomic():
        event = _lock_for_processing(event_id, with_payload=False)
        if not _due(event, timezone.now()):
            return SKIPPED
        outcome = mark(event)
        _save_outcome(event)
    return outcome


# The lock and the outcome write run once per event in the worker, where Django compiling the
# equivalent ORM queries cost more CPU than PostgreSQL running them; so they are plain SQL.
_OUTCOME_FIELDS = (
    "status",
    "processed_at",
    "attempts",
    "next_attempt_at",
    "last_error",
    "parked_system",
    "parked_external_id",
    "parked_at",
)
_sql_cache: dict[str, str] = {}


def _lock_for_processing(event_id: int, *, with_payload: bool = True) -> InboundEvent | None:
    """The event locked FOR UPDATE (SKIP LOCKED: None when another worker holds it), with its
    integration's kind, slug and id_system as `integration_kind`, `integration_slug` and
    `integration_id_system`. Without the payload (and raw body) when only the outcome is
    recorded: whatever made the payload fail cannot fail the recording too."""
    from apps.integrations.inbound import fastpath

    return fastpath.lock_event(event_id, with_payload=with_payload)


def _save_outcome(event: InboundEvent) -> None:
    """`event.save(update_fields=_OUTCOME_FIELDS)`, without the ORM's compile."""
    sql = _sql_cache.get("outcome")
    if sql is None:
        meta = InboundEvent._meta
        assignments = ", ".join(f'"{meta.get_field(name).column}" = %s' for name in _OUTCOME_FIELDS)
        sql = _sql_cache["outcome"] = f'UPDATE "{meta.db_table}" SET {assignments} WHERE "id" = %s'  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [getattr(event, name) for name in _OUTCOME_FIELDS] + [event.pk])


def _mark_parked(event: InboundEvent, park: ParkEvent, now: dt.datetime) -> str:
    same_identifier = (event.parked_system, event.parked_external_id) == (
        park.system,
        park.external_id,
    )
    if event.parked_at is None or not same_identifier:
        event.parked_at = now  # the age limit counts from the first park on this identifier
    event.status = Status.PARKED
    event.parked_system, event.parked_external_id = park.system[:64], park.external_id[:255]
    event.last_error = park.reason[:MAX_ERROR_CHARS]
    event.next_attempt_at = now + conf.duration("AFFILIATEHUB_PARK_RECHECK_SECONDS")
    return PARKED


def _mark_dead(event: InboundEvent, exc: BaseException, reason: str) -> str:
    """Straight to the dead letters: retrying the same input would fail the same way."""
    event.attempts += 1
    event.status, event.next_attempt_at = Status.DEAD, None
    event.last_error = f"{reason}; not retried.\n{_error_summary(exc)}"[:MAX_ERROR_CHARS]
    logger.error("Inbound event %s is dead: %s.", event.pk, reason)
    return DEAD


def _mark_rejected(event: InboundEvent, rejected: RejectEvent) -> str:
    event.attempts += 1
    event.status, event.next_attempt_at = Status.DEAD, None
    event.last_error = f"Rejected: {rejected.reason}"[:MAX_ERROR_CHARS]
    logger.warning(
        "Inbound event %s (%s) rejected: %s", event.pk, event.event_type, rejected.reason
    )
    return DEAD


def _mark_failed(event: InboundEvent, exc: BaseException, now: dt.datetime) -> str:
    event.attempts += 1
    event.last_error = f"Attempt {event.attempts}: {_error_summary(exc)}"[-MAX_ERROR_CHARS:]
    if event.attempts >= int(conf.get("AFFILIATEHUB_EVENT_MAX_ATTEMPTS")):
        event.status, event.next_attempt_at = Status.DEAD, None
        logger.error("Inbound event %s is dead after %d attempts.", event.pk, event.attempts)
        return DEAD
    delay = retry_delay(event.attempts)
    event.status, event.next_attempt_at = Status.FAILED, now + dt.timedelta(seconds=delay)
    event_id, event_type = event.pk, event.event_type
    transaction.on_commit(lambda: dispatch.enqueue_event(event_id, event_type, countdown=delay))
    return FAILED


def inbound_events_process_sequence(*, event_ids: Sequence[int]) -> dict[str, int]:
    """Process events one after another, in the given order (each in its own transaction)."""
    counts: dict[str, int] = {}
    for event_id in event_ids:
        outcome = inbound_event_process(event_id=event_id)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@dataclass(frozen=True)
class DrainResult:
    """What one drain task did: events claimed, outcomes counted, batches, and whether it
    stopped for its time budget (it then woke a successor) rather than for lack of work."""

    claimed: int
    outcomes: dict[str, int]
    batches: int
    out_of_time: bool


DRAIN_TIME_BUDGET_SECONDS = 20.0


def inbound_events_drain(
    *, trades: bool, batch_size: int | None = None, budget_seconds: float | None = None
) -> DrainResult:
    """Batch claiming (issue 18 §3): claim ready events of one queue in batches and process
    them one after another, each exactly as `inbound_event_process` does (its own transaction,
    its own retry/park/dead-letter outcome: one event failing never touches the others).

    A claim leases up to `batch_size` events in receipt order (`fastpath.claim_ready`), never
    one whose player has an event in flight elsewhere, so a player's events keep their order
    across workers. The first full batch wakes one more drain (another worker joins a backlog).
    When a claim comes back empty the drain forgets its pending mark and claims once more
    (events stored in between either show up in that claim or wake a new drain), then stops.
    After `budget_seconds` it wakes a successor and stops, so no task runs for ever. Events
    the drain could not process (another worker held the row) get their lease back."""
    from apps.integrations.inbound import fastpath

    batch_size = batch_size or dispatch.claim_batch_size() or dispatch.DEFAULT_CLAIM_BATCH
    budget = DRAIN_TIME_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    lease = conf.duration("AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS")
    started = time.monotonic()
    outcomes: dict[str, int] = {}
    claimed_total = batches = 0
    helper_woken = idle_announced = False
    # Skipped events keep their lease until the drain ends (claiming them again at once would
    # only find the same row held); then they are ready for the next drain.
    skipped: dict[dt.datetime, list[int]] = {}
    try:
        while True:
            now = timezone.now()
            lease_until = now + lease
            with transaction.atomic():
                claimed = fastpath.claim_ready(
                    trades=trades, limit=batch_size, lease_until=lease_until, now=now
                )
            if not claimed:
                if idle_announced:
                    return DrainResult(claimed_total, outcomes, batches, out_of_time=False)
                dispatch.drain_idle(trades=trades)
                idle_announced = True
                continue
            idle_announced = False
            batches += 1
            claimed_total += len(claimed)
            if len(claimed) >= batch_size and not helper_woken:
                dispatch.wake_drain(trades=trades, force=True)
                helper_woken = True
            for event in claimed:
                outcome = inbound_event_process(event_id=event.id)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if outcome == SKIPPED:
                    skipped.setdefault(lease_until, []).append(event.id)
            if time.monotonic() - started >= budget:
                dispatch.wake_drain(trades=trades, force=True)
                return DrainResult(claimed_total, outcomes, batches, out_of_time=True)
    finally:
        for lease_until, event_ids in skipped.items():
            fastpath.release_leases(event_ids=event_ids, lease_until=lease_until)


# ---------------------------------------------------------------------------------------------
# Parking, replay, sweeping


def inbound_events_unpark(*, system: str, external_id: str) -> int:
    """Re-run the events parked on (system, external_id) now that it is known.

    Sets them back to `received` and, after commit, enqueues ONE task that processes them in
    order of occurrence (occurred_at, then received_at). Call it inside the transaction that
    creates the mapping. Returns how many events were unparked.
    """
    # No savepoint: nothing here is caught, and this runs for every new mapping (registrations).
    with transaction.atomic(savepoint=False):
        sql = _sql_cache.get("parked")
        if sql is None:
            sql = _sql_cache["parked"] = f"""
                SELECT "id", "occurred_at", "received_at" FROM "{InboundEvent._meta.db_table}"
                WHERE "status" = %s AND "parked_system" = %s AND "parked_external_id" = %s ORDER BY "id" FOR UPDATE
            """  # noqa: S608 - the table name is the model's, values are parameters
        with connection.cursor() as cursor:
            cursor.execute(sql, [Status.PARKED, system, str(external_id)])
            parked = cursor.fetchall()
        if not parked:
            return 0
        far_past = dt.datetime.min.replace(tzinfo=dt.UTC)
        ordered = [
            pk
            for pk, occurred_at, received_at in sorted(
                parked, key=lambda r: (r[1] or far_past, r[2], r[0])
            )
        ]
        # The sweeper leaves them alone while the unpark task is on its way.
        grace = timezone.now() + conf.duration("AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS")
        InboundEvent.objects.filter(pk__in=ordered).update(
            status=Status.RECEIVED, parked_at=None, next_attempt_at=grace
        )
        transaction.on_commit(lambda: dispatch.enqueue_sequence(ordered))
    return len(ordered)


class StillInvalid(InboundEventError):
    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__(
            "Still invalid against the current schema: "
            + "; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items())
        )


def inbound_event_replay(*, event: InboundEvent, acting_user) -> InboundEvent:
    """Send a dead or invalid event through processing again (audited).

    Invalid events are validated again against the current schema first; if they still fail,
    their stored errors are refreshed and StillInvalid is raised. Attempts start from zero.
    """
    fields = ["status", "attempts", "last_error", "errors", "event_type"]
    still_invalid: StillInvalid | None = None
    with transaction.atomic():
        locked = (
            InboundEvent.objects.select_for_update(of=("self",))
            .select_related("integration")
            .get(pk=event.pk)
        )
        if locked.status not in (Status.DEAD, Status.INVALID):
            raise InboundEventError(
                f"Only dead or invalid events can be replayed; event {locked.pk} is {locked.status}."
            )
        before = snapshot(locked, fields)
        if locked.status == Status.INVALID:
            envelope = locked.payload
            if not envelope and locked.raw_body:
                try:
                    envelope = orjson.loads(locked.raw_body)
                except orjson.JSONDecodeError:
                    envelope = None
            result = validate_envelope(envelope, kind=locked.integration.kind)
            if result.is_valid:
                locked.payload, locked.raw_body = envelope, ""
                locked.event_type, locked.occurred_at = result.event_type, result.occurred_at
                locked.warnings, locked.errors = result.warnings, {}
            else:
                locked.errors = result.errors
                locked.save(update_fields=["errors"])
                audit_record(
                    action="inbound_event.replay_rejected",
                    instance=locked,
                    actor=acting_user,
                    before=before,
                    after={"errors": result.errors},
                )
                still_invalid = StillInvalid(result.errors)
        if still_invalid is None:
            locked.status, locked.attempts = Status.RECEIVED, 0
            locked.next_attempt_at, locked.last_error = None, ""
            locked.save()
            audit_record(
                action="inbound_event.replayed",
                instance=locked,
                actor=acting_user,
                before=before,
                after=snapshot(locked, fields),
            )
            event_id, event_type = locked.pk, locked.event_type
            transaction.on_commit(lambda: dispatch.enqueue_event(event_id, event_type))
    if still_invalid is not None:
        raise still_invalid
    return locked


@dataclass(frozen=True)
class SweepResult:
    requeued_received: int
    requeued_failed: int
    rechecked_parked: int
    dead_lettered_parked: int


def inbound_events_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """The outbox sweeper (beat, every 30 s): nothing committed is ever left behind.

    - `received` events older than AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS (lost publish, broker
      outage, worker crash) are enqueued again, and then left alone for that long again;
    - `failed` events whose retry was due that long ago (the retry message was lost) likewise;
    - `parked` events older than AFFILIATEHUB_PARK_MAX_AGE become dead letters with the reason;
    - other `parked` events are re-run every AFFILIATEHUB_PARK_RECHECK_SECONDS, in case their
      identifier was mapped while they were being processed.
    Rows locked by a worker are skipped. Safe to run concurrently and twice.
    """
    now = now or timezone.now()
    stuck_after = conf.duration("AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS")
    limit = int(conf.get("AFFILIATEHUB_SWEEP_BATCH_SIZE"))
    max_age = conf.duration("AFFILIATEHUB_PARK_MAX_AGE")
    locked = InboundEvent.objects.select_for_update(skip_locked=True, of=("self",))

    with transaction.atomic():
        too_old = list(
            locked.filter(status=Status.PARKED, parked_at__lt=now - max_age)
            .order_by("parked_at")
            .values_list("pk", "parked_system", "parked_external_id", "last_error")[:limit]
        )
        for pk, system, external_id, reason in too_old:
            InboundEvent.objects.filter(pk=pk).update(
                status=Status.DEAD,
                next_attempt_at=None,
                last_error=(
                    f"Parked longer than {max_age}: {system}:{external_id} was never mapped to a player. "
                    f"Last reason: {reason}"
                )[:MAX_ERROR_CHARS],
            )
        if too_old:
            logger.warning(
                "Dead-lettered %d event(s) parked longer than %s.", len(too_old), max_age
            )

        recheck = list(
            locked.filter(status=Status.PARKED, next_attempt_at__lte=now)
            .order_by("occurred_at", "received_at", "pk")
            .values_list("pk", "event_type")[:limit]
        )
        received = list(
            locked.filter(status=Status.RECEIVED, received_at__lt=now - stuck_after)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("received_at", "pk")
            .values_list("pk", "event_type")[:limit]
        )
        failed = list(
            locked.filter(status=Status.FAILED, next_attempt_at__lte=now - stuck_after)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", "event_type")[:limit]
        )
        look_again = now + stuck_after
        if recheck:
            InboundEvent.objects.filter(pk__in=[pk for pk, _ in recheck]).update(
                status=Status.RECEIVED, next_attempt_at=look_again
            )
        if received:
            InboundEvent.objects.filter(pk__in=[pk for pk, _ in received]).update(
                next_attempt_at=look_again
            )
        if failed:
            # Due now; the sweeper looks again only after another stuck_after.
            InboundEvent.objects.filter(pk__in=[pk for pk, _ in failed]).update(next_attempt_at=now)
        requeue = received + failed
        if recheck:
            ordered = [pk for pk, _ in recheck]
            transaction.on_commit(lambda: dispatch.enqueue_sequence(ordered))
        if requeue:
            transaction.on_commit(lambda: dispatch.enqueue_events(requeue))
    if received or failed:
        logger.info(
            "Sweeper re-enqueued %d received and %d failed event(s).", len(received), len(failed)
        )
    return SweepResult(
        requeued_received=len(received),
        requeued_failed=len(failed),
        rechecked_parked=len(recheck),
        dead_lettered_parked=len(too_old),
    )


SWEEP_TIME_BUDGET_SECONDS = 20.0


def inbound_events_sweep_all(
    *, now: dt.datetime | None = None, budget_seconds: float = SWEEP_TIME_BUDGET_SECONDS
) -> SweepResult:
    """The sweeper's beat run: sweep batch after batch while batches come back full, within a
    time budget below the beat interval. After a broker outage tens of thousands of events wait
    `received`; one batch per run would drain them at AFFILIATEHUB_SWEEP_BATCH_SIZE per 30 s."""
    limit = int(conf.get("AFFILIATEHUB_SWEEP_BATCH_SIZE"))
    started = time.monotonic()
    total = SweepResult(
        requeued_received=0, requeued_failed=0, rechecked_parked=0, dead_lettered_parked=0
    )
    while True:
        result = inbound_events_sweep(now=now)
        total = SweepResult(
            requeued_received=total.requeued_received + result.requeued_received,
            requeued_failed=total.requeued_failed + result.requeued_failed,
            rechecked_parked=total.rechecked_parked + result.rechecked_parked,
            dead_lettered_parked=total.dead_lettered_parked + result.dead_lettered_parked,
        )
        full = (
            max(
                result.requeued_received,
                result.requeued_failed,
                result.rechecked_parked,
                result.dead_lettered_parked,
            )
            >= limit
        )
        if not full or time.monotonic() - started >= budget_seconds:
            return total
