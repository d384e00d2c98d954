"""Batch claiming (issue 18 §3): a drain claims ready events of one queue and processes them
one after another."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.integrations import conf
from apps.integrations.inbound import dispatch
from apps.integrations.inbound.process import SKIPPED, inbound_event_process


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
    *, trades: bool | None, batch_size: int | None = None, budget_seconds: float | None = None
) -> DrainResult:
    """Batch claiming (issue 18 §3): claim ready events of one queue (`trades` True or False;
    None: both, on a worker consuming both queues, see dispatch.drain_kind_for_worker) in
    batches and process them one after another, each exactly as `inbound_event_process` does
    (its own transaction, its own retry/park/dead-letter outcome: one event failing never
    touches the others).

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
                dispatch.wake_drain(trades=bool(trades), force=True)
                helper_woken = True
            for event in claimed:
                outcome = inbound_event_process(event_id=event.id)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if outcome == SKIPPED:
                    skipped.setdefault(lease_until, []).append(event.id)
            if time.monotonic() - started >= budget:
                dispatch.wake_drain(trades=bool(trades), force=True)
                return DrainResult(claimed_total, outcomes, batches, out_of_time=True)
    finally:
        for lease_until, event_ids in skipped.items():
            fastpath.release_leases(event_ids=event_ids, lease_until=lease_until)
