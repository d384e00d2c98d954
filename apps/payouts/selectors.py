"""Reads of payouts for the admin and the API: queues, totals, history."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Prefetch, QuerySet, Sum
from django.utils import timezone

from apps.core.filters import filterset_apply
from apps.core.models import AuditLog
from apps.integrations.outbound_models import DeliveryAttempt, OutboundDelivery
from apps.payouts.filters import PayoutFilter
from apps.payouts.fx import FxRateMissing, fx_quote
from apps.payouts.models import FxLockMode, Payout, PayoutAllocation


def totals_by_currency(payouts: QuerySet[Payout]) -> list[dict]:
    """[{"currency", "count", "total"}] for a set of payouts, by currency."""
    return list(payouts.order_by().values("currency").annotate(count=Count("id"), total=Sum("amount")).order_by("currency"))


def approval_preview(payouts: QuerySet[Payout]) -> dict:
    """What a bulk approval will commit to: count, totals per currency, the rate of each payout
    (the locked one, or for disbursement-locked payouts the rate that approval would lock now)."""
    now = timezone.now()
    rows, totals = [], defaultdict(Decimal)
    for payout in payouts.select_related("affiliate", "method").order_by("pk"):
        rate, source, as_of, amount, note = payout.fx_rate, payout.fx_source, payout.fx_as_of, payout.amount, "locked"
        if payout.fx_lock_mode == FxLockMode.DISBURSEMENT:
            try:
                quote = fx_quote(base=payout.source_currency, quote=payout.currency, at=now)
            except FxRateMissing as exc:
                note = str(exc)
            else:
                rate, source, as_of, amount = quote.rate, quote.source, quote.as_of, quote.convert(payout.source_amount)
                note = "locked at approval"
        totals[payout.currency] += amount
        rows.append({"payout": payout, "rate": rate, "source": source, "as_of": as_of, "amount": amount, "note": note})
    return {"rows": rows, "count": len(rows), "totals": sorted(totals.items())}


def payout_history(payout: Payout) -> dict:
    """Everything that happened to a payout: its audit rows and every gateway request attempt."""
    audit = list(
        AuditLog.objects.filter(object_type="payouts.payout", object_id=str(payout.pk))
        .select_related("actor").order_by("created_at", "id")
    )
    deliveries = list(
        OutboundDelivery.objects.filter(topic="payout.request", subject=payout.reference).order_by("created_at", "id")
    )
    attempts = defaultdict(list)
    for attempt in DeliveryAttempt.objects.filter(delivery__in=deliveries).order_by("delivery_id", "number"):
        attempts[attempt.delivery_id].append(attempt)
    return {"audit": audit, "deliveries": [(d, attempts[d.pk]) for d in deliveries]}


def payout_list(*, filters=None, queryset: QuerySet[Payout] | None = None) -> QuerySet[Payout]:
    """Payouts narrowed by PayoutFilter (shared with the read API), with their method's kind and
    statement ids at no per-row cost; FilterError on bad values."""
    base = Payout.objects.all() if queryset is None else queryset
    allocations = Prefetch("allocations", queryset=PayoutAllocation.objects.order_by("statement_id"))
    return (
        filterset_apply(PayoutFilter, data=filters, queryset=base)
        .select_related("method")
        .prefetch_related(allocations)
    )
