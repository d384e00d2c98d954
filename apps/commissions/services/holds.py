"""Holds on ledger lines (issue 17): money that must not leave until someone decides.

A held line stays out of the period close (not approved while held) and a payout run pays no
statement carrying a held line (apps.payouts.services.payout_run_create). Holds are placed and
released by reference (e.g. "risk_case:41"), so the decision that placed them releases exactly
its own. Placing and releasing are audited in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.commissions.models import CommissionEntry, CommissionHold
from apps.commissions.services.ledger import Kind, Status
from apps.core.audit import audit_record

# Lines whose money has not left yet: what a hold can still stop.
HOLDABLE_STATUSES = (Status.PENDING, Status.APPROVED)


def live_hold_exists(entry_ref: str = "pk") -> Exists:
    """`Exists(...)` for a live hold on the line `OuterRef(entry_ref)`."""
    return Exists(
        CommissionHold.objects.filter(entry_id=OuterRef(entry_ref), released_at__isnull=True)
    )


def held_entries() -> QuerySet[CommissionEntry]:
    return CommissionEntry.objects.filter(live_hold_exists())


def commission_lines_hold(
    *,
    entries: Iterable[CommissionEntry] | QuerySet[CommissionEntry],
    reference: str,
    label: str,
    acting_user=None,
    actor_label: str = "",
) -> list[CommissionHold]:
    """Hold these lines (and the parents' override lines computed from them) that are still
    pending or approved and not held yet. Idempotent: a line already held is left as it is."""
    ids = (
        [e.pk for e in entries]
        if not isinstance(entries, QuerySet)
        else list(entries.values_list("pk", flat=True))
    )
    if not ids:
        return []
    with transaction.atomic():
        candidates = list(
            CommissionEntry.objects.select_for_update()
            .filter(Q(pk__in=ids) | Q(basis_id__in=ids, kind=Kind.OVERRIDE))
            .filter(status__in=HOLDABLE_STATUSES)
            .exclude(live_hold_exists())
            .order_by("pk")
        )
        holds = CommissionHold.objects.bulk_create(
            [CommissionHold(entry=e, reference=reference, label=label) for e in candidates]
        )
        for hold, entry in zip(holds, candidates, strict=True):
            audit_record(
                action="commission_entry.held",
                instance=entry,
                actor=acting_user,
                actor_label=actor_label,
                before={"held": None},
                after={"held": label, "hold_id": hold.pk},
            )
    return holds


def commission_holds_release(
    *, reference: str, reason: str, acting_user=None, actor_label: str = ""
) -> list[CommissionHold]:
    """Release every live hold placed under `reference`: the next close approves the lines
    (past their approval hold) and the next payout run pays them."""
    if not reason.strip():
        raise ValueError("Releasing held lines needs a reason.")
    with transaction.atomic():
        holds = list(
            CommissionHold.objects.select_for_update()
            .filter(reference=reference, released_at__isnull=True)
            .select_related("entry")
            .order_by("pk")
        )
        now = timezone.now()
        CommissionHold.objects.filter(pk__in=[h.pk for h in holds]).update(
            released_at=now, release_reason=reason.strip()[:500]
        )
        for hold in holds:
            hold.released_at, hold.release_reason = now, reason.strip()[:500]
            audit_record(
                action="commission_entry.released",
                instance=hold.entry,
                actor=acting_user,
                actor_label=actor_label,
                before={"held": hold.label},
                after={"held": None},
                reason=reason,
            )
    return holds


def hold_labels(entry_ids: Iterable[int]) -> dict[int, str]:
    """{line id: "risk case 41"} for the lines among `entry_ids` held now (one query)."""
    return dict(
        CommissionHold.objects.filter(
            entry_id__in=list(entry_ids), released_at__isnull=True
        ).values_list("entry_id", "label")
    )
