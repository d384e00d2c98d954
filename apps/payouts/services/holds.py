"""Holds on an affiliate's payable balance: placed by risk cases or by a payout run for a suspended
or banned affiliate, released by Finance."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.core.audit import audit_record, snapshot
from apps.payouts.models import (
    PayoutHold,
)
from apps.payouts.services.common import (
    PayoutError,
)


def payout_hold_place(*, affiliate: Affiliate, reason: str, actor_label: str) -> PayoutHold:
    """Hold the affiliate's payable balance (e.g. a risk case above its score): payout runs leave
    it unpaid until released. The live hold is returned when one exists already."""
    with transaction.atomic():
        live = PayoutHold.objects.filter(affiliate=affiliate, released_at__isnull=True)
        existing = live.first()
        if existing is not None:
            return existing
        # The partial unique index makes a concurrent placement a no-op; read back the winner.
        PayoutHold.objects.bulk_create(
            [PayoutHold(affiliate=affiliate, reason=reason[:300])], ignore_conflicts=True
        )
        hold = live.get()
        if hold.reason == reason[:300]:
            audit_record(
                action="payout_hold.placed",
                instance=hold,
                actor_label=actor_label,
                after=snapshot(hold, ["affiliate", "reason"]),
            )
        return hold


def _holds_for(affiliate_ids: set[int], acting_user) -> dict[int, PayoutHold]:
    """The live holds of these affiliates, placing one on each suspended or banned affiliate that
    has none (the partial unique index makes a concurrent run's insert a no-op)."""
    live = PayoutHold.objects.filter(affiliate_id=OuterRef("pk"), released_at__isnull=True)
    inactive = (
        Affiliate.objects.filter(pk__in=affiliate_ids)
        .exclude(status=Affiliate.Status.ACTIVE)
        .exclude(Exists(live))
        .order_by("pk")
    )
    new_holds = [
        PayoutHold(
            affiliate_id=a.pk,
            reason=f"Affiliate {a.get_status_display().lower()}; held until Finance releases it.",
        )
        for a in inactive
    ]
    if new_holds:
        PayoutHold.objects.bulk_create(new_holds, ignore_conflicts=True)
        for hold in PayoutHold.objects.filter(
            affiliate_id__in=[h.affiliate_id for h in new_holds], released_at__isnull=True
        ):
            audit_record(
                action="payout_hold.placed",
                instance=hold,
                actor=acting_user,
                actor_label="" if acting_user else "payout run",
                after=snapshot(hold, ["affiliate", "reason"]),
            )
    return {
        h.affiliate_id: h
        for h in PayoutHold.objects.filter(affiliate_id__in=affiliate_ids, released_at__isnull=True)
    }


def payout_hold_release(
    *,
    hold: PayoutHold,
    acting_user,
    reason: str,
    permission: str = "payouts.release_payouthold",
) -> PayoutHold:
    """Finance releases a held balance: the next payout run pays it. Refused while the affiliate
    is still suspended or banned (Compliance reactivates it first) and without a reason. A hold a
    risk case placed is released by that case's decision (`permission`: deciding risk cases)."""
    if acting_user is None or not acting_user.has_perm(permission):
        raise PayoutError("Releasing a held balance needs the Finance permission to release holds.")
    if not (reason or "").strip():
        raise PayoutError("Releasing a held balance needs a reason.")
    with transaction.atomic():
        locked = PayoutHold.objects.select_for_update().select_related("affiliate").get(pk=hold.pk)
        if locked.released_at is not None:
            raise PayoutError(f"The hold on {locked.affiliate} was already released.")
        if locked.affiliate.status != Affiliate.Status.ACTIVE:
            raise PayoutError(
                f"{locked.affiliate} is {locked.affiliate.get_status_display().lower()}; it must "
                "be reactivated "
                "before its balance is released."
            )
        before = snapshot(locked, ["released_at", "released_by", "release_reason"])
        locked.released_at, locked.released_by, locked.release_reason = (
            timezone.now(),
            acting_user,
            reason.strip(),
        )
        locked.save(update_fields=["released_at", "released_by", "release_reason"])
        audit_record(
            action="payout_hold.released",
            instance=locked,
            actor=acting_user,
            before=before,
            after=snapshot(locked, ["released_at", "released_by", "release_reason"]),
            reason=reason,
        )
    return locked
