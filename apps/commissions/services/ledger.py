"""Writing the commission ledger: booking lines once, sub-affiliate overrides, status moves.

Every accrual ends here. A line is inserted through its unique key (source event + kind +
affiliate, or an idempotency key), so a redelivered or replayed event books nothing twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.commissions import events, periods
from apps.commissions.calculators import ZERO, ledger_amount, override_amount
from apps.commissions.models import CommissionEntry, PeriodClose, Plan, PlanAssignment
from apps.commissions.versions import family_versions_in_force
from apps.compliance.gates import GatePurpose, accrual_gate
from apps.core.audit import audit_record
from apps.players.models import Player

Kind = CommissionEntry.Kind
Status = CommissionEntry.Status

# How far up the sub-affiliate tree overrides are looked for (plans allow depth 1-5).
MAX_OVERRIDE_DEPTH = 5
_UNIQUE_VIOLATION = "23505"


class LedgerError(ValueError):
    """A ledger write was refused (an invalid status move, a float amount...)."""


@dataclass
class Line:
    """A ledger line about to be booked."""

    kind: str
    affiliate: Affiliate
    amount: Decimal
    currency: str
    occurred_at: dt.datetime
    status: str
    plan: Plan | None = None
    player: Player | None = None
    status_reason: str = ""
    quantity: Decimal | None = None
    rate: Decimal | None = None
    detail: dict = field(default_factory=dict)
    position_key: str = ""
    approve_after: dt.datetime | None = None
    reverses: CommissionEntry | None = None
    basis: CommissionEntry | None = None
    restates_period: dt.date | None = None


def open_period(at: dt.datetime) -> dt.date:
    """The period a line that happened at `at` is booked in: its own month, or the first month
    after it that is not closed (corrections never reopen a closed period). Holds a shared lock
    on it until the transaction ends, so a close cannot run underneath the booking."""
    period = periods.period_of(at)
    while True:
        closed = set(
            PeriodClose.objects.filter(period__gte=period).values_list("period", flat=True)
        )
        while period in closed:
            period = periods.next_period(period)
        periods.lock_period_shared(period)
        if not PeriodClose.objects.filter(period=period).exists():
            return period


def plan_assigned(
    *, affiliate_id: int, brand: str, day: dt.date, version_day: dt.date | None = None
) -> Plan | None:
    """The plan assigned to an affiliate for a brand on `day`, in the version in force on
    `version_day` (default: the same day). One query; a second only when a newer version applies."""
    version_day = version_day or day
    root = Coalesce(OuterRef("plan__family_id"), OuterRef("plan_id"))
    assignment = (
        PlanAssignment.objects.select_related("plan")
        .filter(affiliate_id=affiliate_id, brand=brand, valid_from__lte=day)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=day))
        .annotate(version_id=Subquery(family_versions_in_force(root, version_day).values("pk")[:1]))
        .first()
    )
    if assignment is None:
        return None
    if assignment.version_id in (None, assignment.plan_id):
        return assignment.plan
    return Plan.objects.get(pk=assignment.version_id)


def plan_for(*, affiliate_id: int, brand: str, at: dt.datetime) -> Plan | None:
    """The plan assigned to an affiliate for a brand on the operator-local date of `at`, in the
    version in force that day (activity priced as it happens)."""
    day = periods.local_date(at)
    return plan_assigned(affiliate_id=affiliate_id, brand=brand, day=day)


def plan_for_period(*, affiliate_id: int, brand: str, day: dt.date) -> Plan | None:
    """The plan assigned on `day`, in the version in force for `day`'s period (its first day):
    the terms of period-level pricing (RevShare, CPA tiers), at the close and in restatements."""
    return plan_assigned(
        affiliate_id=affiliate_id, brand=brand, day=day, version_day=day.replace(day=1)
    )


def _find_existing(
    *, source_event_id: int | None, idempotency_key: str | None, line: Line
) -> CommissionEntry | None:
    if idempotency_key is not None:
        found = CommissionEntry.objects.filter(idempotency_key=idempotency_key).first()
        if found:
            return found
    if source_event_id is not None:
        found = CommissionEntry.objects.filter(
            source_event_id=source_event_id, kind=line.kind, affiliate=line.affiliate
        ).first()
        if found:
            return found
    if line.kind == Kind.CPA and line.player is not None:
        return CommissionEntry.objects.filter(player=line.player, kind=Kind.CPA).first()
    return None


def entry_book(
    *,
    line: Line,
    source_event_id: int | None = None,
    idempotency_key: str | None = None,
    period: dt.date | None = None,
) -> tuple[CommissionEntry, bool]:
    """Insert one ledger line once. Returns (entry, created); a second call with the same key
    returns the stored line unchanged."""
    if not isinstance(line.amount, Decimal):
        raise LedgerError(f"Ledger amounts must be Decimal, got {type(line.amount).__name__}.")
    if source_event_id is None and idempotency_key is None:
        raise LedgerError("A ledger line needs a source event or an idempotency key.")
    if (
        line.status in (Status.SUPPRESSED, Status.FAILED, Status.CANCELLED)
        and not line.status_reason
    ):
        raise LedgerError("A suppressed, failed or cancelled line needs its reason.")
    existing = _find_existing(
        source_event_id=source_event_id, idempotency_key=idempotency_key, line=line
    )
    if existing is not None:
        return existing, False
    entry = entry_build(
        line=line,
        source_event_id=source_event_id,
        idempotency_key=idempotency_key,
        period=period or open_period(line.occurred_at),
    )
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
    except IntegrityError as exc:
        if getattr(getattr(exc, "__cause__", None), "sqlstate", None) != _UNIQUE_VIOLATION:
            raise
        existing = _find_existing(
            source_event_id=source_event_id, idempotency_key=idempotency_key, line=line
        )
        if existing is None:
            raise
        return existing, False
    events.commission_entry_publish(entry=entry)
    return entry, True


def entry_build(
    *, line: Line, source_event_id: int | None, idempotency_key: str | None, period: dt.date
) -> CommissionEntry:
    """An unsaved ledger row for `line` (entry_book saves one; the period close bulk-inserts)."""
    if not isinstance(line.amount, Decimal):
        raise LedgerError(f"Ledger amounts must be Decimal, got {type(line.amount).__name__}.")
    return CommissionEntry(
        kind=line.kind,
        affiliate=line.affiliate,
        player=line.player,
        plan=line.plan,
        source_event_id=source_event_id,
        idempotency_key=idempotency_key,
        period=period,
        occurred_at=line.occurred_at,
        amount=ledger_amount(line.amount),
        currency=line.currency,
        quantity=line.quantity,
        rate=line.rate,
        detail=line.detail,
        position_key=line.position_key,
        reverses=line.reverses,
        basis=line.basis,
        approve_after=line.approve_after,
        restates_period=line.restates_period,
        status=line.status,
        status_reason=line.status_reason[:500],
        status_changed_at=timezone.now() if line.status != Status.PENDING else None,
        statement_period=period if line.status == Status.APPROVED else None,
    )


def ancestors(affiliate: Affiliate, depth: int = MAX_OVERRIDE_DEPTH) -> list[Affiliate]:
    """The affiliate's parent, grandparent... (nearest first), at most `depth`, cycle-safe."""
    chain: list[Affiliate] = []
    seen = {affiliate.pk}
    parent_id = affiliate.parent_id
    while parent_id is not None and len(chain) < depth and parent_id not in seen:
        parent = Affiliate.objects.get(pk=parent_id)
        chain.append(parent)
        seen.add(parent_id)
        parent_id = parent.parent_id
    return chain


def overrides_book(
    *,
    lines: Sequence[CommissionEntry],
    brand: str,
    source_event_id: int | None = None,
    key_prefix: str | None = None,
) -> list[CommissionEntry]:
    """Book the parents' overrides on one sub-affiliate's lines from one event (or close step).

    Each ancestor at level k whose own plan for the brand has an override percent and a depth
    >= k earns that percent of the lines' sum, funded by the operator (the sub keeps its full
    amount). One override line per ancestor and currency. It shares the status of what it is
    computed from (a pending CPA's override is pending, a suppressed line's override is
    suppressed) and follows it later through `basis`.
    """
    booked: list[CommissionEntry] = []
    lines = [line for line in lines if line.amount != 0]
    if not lines:
        return booked
    sub = lines[0].affiliate
    by_currency: dict[str, list[CommissionEntry]] = {}
    for line in lines:
        if line.affiliate_id != sub.pk:
            raise LedgerError("Overrides are computed for one sub-affiliate at a time.")
        by_currency.setdefault(line.currency, []).append(line)
    for level, parent in enumerate(ancestors(sub), start=1):
        for currency, group in by_currency.items():
            basis = group[0]
            plan = plan_for(affiliate_id=parent.pk, brand=brand, at=basis.occurred_at)
            if plan is None or plan.override_percent <= 0 or plan.override_depth < level:
                continue
            total = sum((line.amount for line in group), ZERO)
            amount = override_amount(total, plan.override_percent)
            status, reason = basis.status, basis.status_reason
            if status not in (Status.SUPPRESSED, Status.FAILED, Status.CANCELLED):
                gate = (
                    accrual_gate(
                        player=basis.player,
                        affiliate=parent,
                        at=basis.occurred_at,
                        purpose=GatePurpose.OVERRIDE,
                    )
                    if basis.player
                    else None
                )
                if gate is not None and not gate.allowed:
                    status, reason = Status.SUPPRESSED, gate.reason
                elif parent.status != Affiliate.Status.ACTIVE:
                    status, reason = Status.SUPPRESSED, "Affiliate suspended"
            line = Line(
                kind=Kind.OVERRIDE if amount >= 0 else Kind.CLAWBACK,
                affiliate=parent,
                player=basis.player,
                plan=plan,
                amount=amount,
                currency=currency,
                occurred_at=basis.occurred_at,
                status=status,
                status_reason=reason,
                quantity=total,
                rate=plan.override_percent,
                basis=basis,
                approve_after=basis.approve_after,
                detail={
                    "sub_affiliate_id": sub.pk,
                    "level": level,
                    "basis_kinds": sorted({g.kind for g in group}),
                },
            )
            key = f"{key_prefix}:override:{parent.pk}:{currency}" if key_prefix else None
            entry, _ = entry_book(
                line=line,
                source_event_id=None if key else source_event_id,
                idempotency_key=key,
                period=basis.period,
            )
            booked.append(entry)
    return booked


# --- status -----------------------------------------------------------------------------------

_ALLOWED_MOVES = {
    Status.PENDING: {Status.APPROVED, Status.FAILED, Status.CANCELLED},
    Status.APPROVED: {Status.PAID},
}


def commission_entries_set_status(
    *,
    entries: QuerySet[CommissionEntry] | Iterable[CommissionEntry],
    to_status: str,
    reason: str = "",
    statement_period: dt.date | None = None,
    acting_user=None,
    actor_label: str = "",
    audit: bool = True,
) -> list[CommissionEntry]:
    """Move lines forward (pending -> approved / failed / cancelled; approved -> paid), with
    their parents' override lines. Locks the rows in pk order; only status columns change.

    Approving needs the statement period that will carry the lines. Returns the moved lines.
    """
    if to_status in (Status.FAILED, Status.CANCELLED) and not reason:
        raise LedgerError("Failing or cancelling a line needs a reason.")
    if to_status == Status.APPROVED and statement_period is None:
        raise LedgerError("Approving a line needs the statement period that carries it.")
    ids = (
        [entry.pk for entry in entries]
        if not isinstance(entries, QuerySet)
        else list(entries.values_list("pk", flat=True))
    )
    if not ids:
        return []
    with transaction.atomic():
        # Overrides follow the line they were computed from.
        override_ids = list(
            CommissionEntry.objects.filter(basis_id__in=ids, kind=Kind.OVERRIDE).values_list(
                "pk", flat=True
            )
        )
        locked = list(
            CommissionEntry.objects.select_for_update()
            .filter(pk__in=set(ids) | set(override_ids))
            .order_by("pk")
        )
        movable = [entry for entry in locked if to_status in _ALLOWED_MOVES.get(entry.status, ())]
        primary_refused = [e for e in locked if e.pk in ids and e not in movable]
        if primary_refused:
            bad = primary_refused[0]
            raise LedgerError(f"Line #{bad.pk} is {bad.status}; it cannot become {to_status}.")
        now = timezone.now()
        update = {"status": to_status, "status_changed_at": now, "status_reason": reason[:500]}
        if to_status == Status.APPROVED:
            update["statement_period"] = statement_period
        CommissionEntry.objects.filter(pk__in=[e.pk for e in movable]).update(**update)
        if audit:
            for entry in movable:
                audit_record(
                    action=f"commission_entry.{to_status}",
                    instance=entry,
                    actor=acting_user,
                    actor_label=actor_label,
                    before={"status": entry.status},
                    after={"status": to_status},
                    reason=reason,
                )
        for entry in movable:
            entry.status, entry.status_reason, entry.status_changed_at = (
                to_status,
                reason[:500],
                now,
            )
            if to_status == Status.APPROVED:
                entry.statement_period = statement_period
    return movable
