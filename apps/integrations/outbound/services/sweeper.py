"""Resending a delivery, and the sweeper for lost messages, stuck claims and late retries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import conf
from apps.core.audit import audit_record, snapshot
from apps.integrations.outbound.models import (
    OutboundDelivery,
    OutboundEndpoint,
)
from apps.integrations.outbound.services.common import OutboundError, Status
from apps.integrations.outbound.services.deliveries import enqueue_many, enqueue_send
from apps.integrations.outbound.services.engine import endpoint_disable_if_failing_too_long

# ---------------------------------------------------------------------------------------------
# Resend and sweep


def delivery_resend(*, delivery: OutboundDelivery, acting_user) -> OutboundDelivery:
    """Send a delivery again from the start of the schedule (same message id and idempotency
    headers, so the receiver can recognise it). Not while it is being sent."""
    with transaction.atomic():
        locked = OutboundDelivery.objects.select_for_update(of=("self",)).get(pk=delivery.pk)
        if locked.status == Status.DELIVERING:
            raise OutboundError(
                f"Delivery {locked.pk} is being sent right now; try again in a moment."
            )
        before = snapshot(locked, ["status", "attempts", "next_attempt_at"])
        locked.status, locked.attempts = Status.PENDING, 0
        locked.next_attempt_at, locked.dead_at = timezone.now(), None
        locked.save(update_fields=["status", "attempts", "next_attempt_at", "dead_at"])
        audit_record(
            action="outbound_delivery.resent",
            instance=locked,
            actor=acting_user,
            before=before,
            after=snapshot(locked, ["status", "attempts", "next_attempt_at"]),
        )
        delivery_id = locked.pk
        transaction.on_commit(lambda: enqueue_send(delivery_id))
    return locked


@dataclass(frozen=True)
class OutboundSweepResult:
    requeued: int
    reclaimed: int
    endpoints_disabled: int


def deliveries_sweep(*, now: dt.datetime | None = None) -> OutboundSweepResult:
    """Beat, every 10 s: enqueue due retries (long delays are never held in the broker),
    pending rows whose first message was lost, and reclaim rows a dead worker left
    `delivering`; disable endpoints failing for too long. Safe to run twice."""
    now = now or timezone.now()
    stuck = conf.duration("AFFILIATEHUB_OUTBOUND_STUCK_AFTER_SECONDS")
    timeout = conf.duration("AFFILIATEHUB_OUTBOUND_TIMEOUT_SECONDS")
    limit = conf.integer("AFFILIATEHUB_OUTBOUND_SWEEP_BATCH_SIZE")
    locked = OutboundDelivery.objects.select_for_update(skip_locked=True, of=("self",))
    with transaction.atomic():
        reclaimed = list(
            locked.filter(
                status=Status.DELIVERING, claimed_at__lt=now - timeout - stuck
            ).values_list("pk", flat=True)[:limit]
        )
        if reclaimed:
            # The worker died mid-request: the receiver may or may not have it; send again
            # (same message id, so receivers dedupe).
            OutboundDelivery.objects.filter(pk__in=reclaimed).update(
                status=Status.FAILED,
                next_attempt_at=now,
                claimed_at=None,
                last_error="The sending worker was lost; sent again.",
            )
        due = list(
            locked.filter(endpoint__is_active=True)
            .filter(
                Q(status=Status.FAILED, next_attempt_at__lte=now)
                | Q(status=Status.PENDING, next_attempt_at__lte=now - stuck)
            )
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        # A pending row re-enqueued here is left alone for another `stuck` period.
        OutboundDelivery.objects.filter(pk__in=due, status=Status.PENDING).update(
            next_attempt_at=now
        )
        requeue = sorted(set(due) | set(reclaimed))
        if requeue:
            transaction.on_commit(lambda: enqueue_many(requeue))
    disabled = 0
    limit_age = conf.duration("AFFILIATEHUB_OUTBOUND_DISABLE_AFTER")
    for endpoint_id in OutboundEndpoint.objects.filter(
        is_active=True, failing_since__lte=now - limit_age
    ).values_list("pk", flat=True):
        disabled += int(endpoint_disable_if_failing_too_long(endpoint_id, now))
    return OutboundSweepResult(
        requeued=len(requeue), reclaimed=len(reclaimed), endpoints_disabled=disabled
    )
