"""Processing one inbound event: lock it, run its handlers, and record the outcome (processed,
parked, retried, dead-lettered or rejected)."""

from __future__ import annotations

import datetime as dt
import logging
import random
import traceback
from collections.abc import Callable, Sequence

from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from apps.integrations import conf
from apps.integrations.inbound import dispatch, parking, registry
from apps.integrations.inbound.registry import EventContext, ParkEvent, RejectEvent
from apps.integrations.inbound.schemas import validate_envelope
from apps.integrations.inbound.store import MAX_ERROR_CHARS, Status
from apps.integrations.models import InboundEvent

logger = logging.getLogger(__name__)


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


# A park whose identifier turned out to be known under the park lock (`_mark_parked`): the event
# stays as it was and runs again at once. Never returned: inbound_event_process runs it again.
_RUN_AGAIN = "run-again"
# How often one call runs an event again for that reason. Each time means a registration of the
# identifier committed between the handler's lookup and the park; a handler whose lookup misses
# an identifier its `known_now` finds would loop, so the last time the event parks as it is.
_MAX_RUNS = 3


def inbound_event_process(*, event_id: int) -> str:
    """Run the registered handlers of one event, exactly once in effect (`_process_once`).

    An event about to park whose identifier got mapped meanwhile (a registration committed
    between the handler's lookup and the park; parking.py) is run again at once, here, instead
    of waiting for the periodic recheck.
    """
    for _ in range(_MAX_RUNS - 1):
        outcome = _process_once(event_id, recheck_park=True)
        if outcome != _RUN_AGAIN:
            return outcome
    return _process_once(event_id, recheck_park=False)


def _process_once(event_id: int, *, recheck_park: bool) -> str:
    """Run the registered handlers of one event once (`_RUN_AGAIN`: see inbound_event_process).

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
            return _record_outcome(
                event_id, lambda event: _mark_parked(event, cause, now, recheck=recheck_park)
            )
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
        if outcome != _RUN_AGAIN:
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


def _mark_parked(
    event: InboundEvent, park: ParkEvent, now: dt.datetime, *, recheck: bool = True
) -> str:
    """Park the event on its identifier, under the identifier's park lock (parking.py), unless
    the handler's `known_now()` finds the identifier known now: then the event is left as it was
    (`_RUN_AGAIN`), to run again at once."""
    parking.park_lock(system=park.system, external_id=park.external_id)
    if recheck and _known_now(park):
        return _RUN_AGAIN
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


def _known_now(park: ParkEvent) -> bool:
    """The handler's re-check; one that fails (not the database) counts as not known: the event
    parks and the periodic recheck runs it again."""
    if park.known_now is None:
        return False
    try:
        return park.known_now()
    except _DATABASE_ERRORS:
        raise
    except Exception:
        logger.exception("The park re-check of %s:%s failed.", park.system, park.external_id)
        return False


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
