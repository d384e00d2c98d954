"""Parking, replay and sweeping: unpark events once an identifier is known, replay dead or
invalid events, and requeue what the outbox sweeper finds."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass

import orjson
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.audit import audit_record, snapshot
from apps.integrations import conf
from apps.integrations.inbound import dispatch, parking
from apps.integrations.inbound.schemas import validate_envelope
from apps.integrations.inbound.store import MAX_ERROR_CHARS, InboundEventError, Status
from apps.integrations.models import InboundEvent

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Parking, replay, sweeping

_sql_cache: dict[str, str] = {}


def inbound_events_unpark(*, system: str, external_id: str) -> int:
    """Re-run the events parked on (system, external_id) now that it is known.

    Sets them back to `received` and, after commit, enqueues ONE task that processes them in
    order of occurrence (occurred_at, then received_at). Call it inside the transaction that
    creates the mapping, after the mapping is written: it takes the identifier's park lock
    until that transaction commits, so an event parking on it meanwhile either is found here
    or finds the mapping (parking.py). Returns how many events were unparked.
    """
    # No savepoint: nothing here is caught, and this runs for every new mapping (registrations).
    with transaction.atomic(savepoint=False):
        # Before the SELECT: a park that holds the lock has committed when this statement runs.
        parking.park_lock(system=system, external_id=external_id)
        sql = _sql_cache.get("parked")
        if sql is None:
            sql = _sql_cache["parked"] = f"""
                SELECT "id", "occurred_at", "received_at" FROM "{InboundEvent._meta.db_table}"
                WHERE "status" = %s AND "parked_system" = %s AND "parked_external_id" = %s
                ORDER BY "id" FOR UPDATE
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
                "Only dead or invalid events can be replayed; "
                f"event {locked.pk} is {locked.status}."
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
    - other `parked` events are re-run every AFFILIATEHUB_PARK_RECHECK_SECONDS, a safety net
      (a mapping made without an unpark, a park without a re-check); the park lock closes the
      race with a registration (parking.py).
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
                    f"Parked longer than {max_age}: {system}:{external_id} "
                    "was never mapped to a player. "
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
