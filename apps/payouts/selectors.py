"""Reads of payouts for the admin and the API: queues, totals, history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery, Sum
from django.utils import timezone

from apps.commissions.models import CommissionEntry, CommissionHold
from apps.core.filters import filterset_apply
from apps.core.models import AuditLog
from apps.integrations.models import DeliveryAttempt, OutboundDelivery
from apps.integrations.outbound.public import archived_delivery_locations
from apps.payouts.destinations import describe, same_payee
from apps.payouts.filters import PayoutFilter
from apps.payouts.fx import FxRateMissing, fx_quote
from apps.payouts.models import (
    FxLockMode,
    Payout,
    PayoutAllocation,
    PayoutMethodChange,
    PayoutStatus,
)


def totals_by_currency(payouts: QuerySet[Payout]) -> list[dict]:
    """[{"currency", "count", "total"}] for a set of payouts, by currency."""
    return list(
        payouts.order_by()
        .values("currency")
        .annotate(count=Count("id"), total=Sum("amount"))
        .order_by("currency")
    )


def last_paid_destinations(affiliate_ids) -> dict[int, Payout]:
    """Each affiliate's most recently completed payout (one query)."""
    latest = (
        Payout.objects.filter(affiliate_id__in=list(affiliate_ids), status=PayoutStatus.COMPLETED)
        .order_by("affiliate_id", "-completed_at", "-id")
        .distinct("affiliate_id")
    )
    return {payout.affiliate_id: payout for payout in latest}


# Apps above payouts (the risk queue) add their notes on an affiliate to the approval page:
# each provider maps affiliate ids to lines of text (one query per provider, not per payout).
_approval_note_providers: list[Callable[[set[int]], dict[int, list[str]]]] = []


def approval_note_register(provider: Callable[[set[int]], dict[int, list[str]]]) -> None:
    if provider not in _approval_note_providers:
        _approval_note_providers.append(provider)


def held_statement_labels(payout_ids) -> dict[int, str]:
    """{payout id: "risk case 41"} for payouts carrying a statement with a held ledger line
    (a hold placed after the payout was drafted): their approval is refused until release."""
    rows = (
        CommissionHold.objects.filter(
            released_at__isnull=True,
            entry__status=CommissionEntry.Status.APPROVED,
            entry__statement_period=OuterRef("statement__period"),
            entry__affiliate_id=OuterRef("statement__affiliate_id"),
            entry__currency=OuterRef("statement__currency"),
        )
        .order_by("pk")
        .values("label")[:1]
    )
    return dict(
        PayoutAllocation.objects.filter(payout_id__in=list(payout_ids), released_at__isnull=True)
        .annotate(held_by=Subquery(rows))
        .filter(held_by__isnull=False)
        .values_list("payout_id", "held_by")
    )


def approval_preview(payouts: QuerySet[Payout]) -> dict:
    """What a bulk approval will commit to: count, totals per currency, the rate of each payout
    (the locked one, or for disbursement-locked payouts the rate that approval would lock now),
    and where each one pays, in full, with a warning when that differs from where the affiliate
    was last paid or a destination change is waiting for approval."""
    now = timezone.now()
    rows, totals = [], defaultdict(Decimal)
    payouts = list(
        payouts.select_related(
            "affiliate", "method", "prepared_by", "destination_changed_by"
        ).order_by("pk")
    )
    last_paid = last_paid_destinations({p.affiliate_id for p in payouts})
    pending_changes = set(
        PayoutMethodChange.objects.filter(
            affiliate_id__in={p.affiliate_id for p in payouts},
            status=PayoutMethodChange.Status.PENDING,
        ).values_list("affiliate_id", flat=True)
    )
    affiliate_ids = {p.affiliate_id for p in payouts}
    notes: dict[int, list[str]] = defaultdict(list)
    for provider in _approval_note_providers:
        for affiliate_id, lines in provider(affiliate_ids).items():
            notes[affiliate_id] += lines
    held = held_statement_labels([p.pk for p in payouts])
    for payout in payouts:
        rate, source, as_of, amount, note = (
            payout.fx_rate,
            payout.fx_source,
            payout.fx_as_of,
            payout.amount,
            "locked",
        )
        if payout.fx_lock_mode == FxLockMode.DISBURSEMENT:
            try:
                quote = fx_quote(base=payout.source_currency, quote=payout.currency, at=now)
            except FxRateMissing as exc:
                note = str(exc)
            else:
                rate, source, as_of, amount = (
                    quote.rate,
                    quote.source,
                    quote.as_of,
                    quote.convert(payout.source_amount),
                )
                note = "locked at approval"
        totals[payout.currency] += amount
        warnings = []
        previous = last_paid.get(payout.affiliate_id)
        if previous is None:
            warnings.append(
                "First payout to this affiliate: no earlier paid destination to compare with."
            )
        elif not same_payee(previous.destination, payout.destination):
            warnings.append(
                f"Differs from the last paid destination ({previous.reference}: "
                f"{describe(previous.destination, masked=False)})."
            )
        if payout.affiliate_id in pending_changes:
            warnings.append(
                "A payout destination change for this affiliate is waiting for approval: approval "
                "is refused."
            )
        if payout.destination_changed_by_id:
            warnings.append(f"Destination set by {payout.destination_changed_by} (method change).")
        if payout.pk in held:
            warnings.append(
                f"Carries a held commission line (held: {held[payout.pk]}): approval is refused."
            )
        warnings += notes.get(payout.affiliate_id, [])
        rows.append(
            {
                "payout": payout,
                "rate": rate,
                "source": source,
                "as_of": as_of,
                "amount": amount,
                "note": note,
                "destination": describe(payout.destination, masked=False),
                "differs": previous is not None
                and not same_payee(previous.destination, payout.destination),
                "warnings": warnings,
            }
        )
    return {"rows": rows, "count": len(rows), "totals": sorted(totals.items())}


def payout_history(payout: Payout) -> dict:
    """Everything that happened to a payout: its audit rows, every gateway request attempt, and
    the requests whose month was archived (AFFILIATEHUB_DELIVERY_RETENTION_MONTHS): their number,
    idempotency key and the archive file that holds them with their attempts."""
    audit = list(
        AuditLog.objects.filter(object_type="payouts.payout", object_id=str(payout.pk))
        .select_related("actor")
        .order_by("created_at", "id")
    )
    deliveries = list(
        OutboundDelivery.objects.filter(topic="payout.request", subject=payout.reference).order_by(
            "created_at", "id"
        )
    )
    attempts = defaultdict(list)
    for attempt in DeliveryAttempt.objects.filter(delivery__in=deliveries).order_by(
        "delivery_id", "number"
    ):
        attempts[attempt.delivery_id].append(attempt)
    live = {d.idempotency_key for d in deliveries}
    gone = {
        payout.gateway_request_key(number): number
        for number in range(1, payout.submission_count + 1)
        if payout.gateway_request_key(number) not in live
    }
    locations = archived_delivery_locations(list(gone)) if gone else {}
    archived = [
        {"number": number, "key": key, "archive": locations[key]}
        for key, number in gone.items()
        if key in locations
    ]
    return {
        "audit": audit,
        "deliveries": [(d, attempts[d.pk]) for d in deliveries],
        "archived": archived,
    }


def payout_list(*, filters=None, queryset: QuerySet[Payout] | None = None) -> QuerySet[Payout]:
    """Payouts narrowed by PayoutFilter (shared with the read API), with their method's kind and
    statement ids at no per-row cost; FilterError on bad values."""
    base = Payout.objects.all() if queryset is None else queryset
    allocations = Prefetch(
        "allocations", queryset=PayoutAllocation.objects.order_by("statement_id")
    )
    return (
        filterset_apply(PayoutFilter, data=filters, queryset=base)
        .select_related("method")
        .prefetch_related(allocations)
    )
