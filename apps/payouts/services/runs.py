"""Payout runs: approved, unpaid statements become draft payouts, one per affiliate and currency."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery, Sum
from django.utils import timezone

from apps.commissions.models import CommissionEntry, CommissionHold, Statement
from apps.core import conf
from apps.core.audit import audit_record, snapshot
from apps.payouts.fx import FxQuote, FxRateMissing, fx_quote
from apps.payouts.models import (
    FxLockMode,
    Payout,
    PayoutAllocation,
    PayoutMethod,
    PayoutRun,
    PayoutRunLine,
)
from apps.payouts.services.common import (
    _AUDITED,
    PayoutError,
)
from apps.payouts.services.holds import _holds_for


def new_reference(now: dt.datetime | None = None) -> str:
    now = now or timezone.now()
    return f"PO-{now:%Y%m}-{secrets.token_hex(5).upper()}"


def unpaid_statements():
    """Approved statements not carried by a live payout: the affiliate's payable balance."""
    live = PayoutAllocation.objects.filter(statement=OuterRef("pk"), released_at__isnull=True)
    return Statement.objects.filter(status=Statement.Status.APPROVED).exclude(Exists(live))


def affiliate_balances(
    *, affiliate_ids: Sequence[int] | None = None
) -> dict[tuple[int, str], Decimal]:
    """Payable balance per (affiliate, currency)."""
    qs = unpaid_statements()
    if affiliate_ids is not None:
        qs = qs.filter(affiliate_id__in=affiliate_ids)
    return {
        (row["affiliate_id"], row["currency"]): row["total"]
        for row in qs.values("affiliate_id", "currency").annotate(total=Sum("total")).order_by()
    }


def _default_methods(affiliate_ids: Iterable[int]) -> dict[int, PayoutMethod]:
    return {
        m.affiliate_id: m
        for m in PayoutMethod.objects.filter(
            affiliate_id__in=list(affiliate_ids), is_active=True, is_default=True
        )
    }


def payout_run_create(*, acting_user=None, now: dt.datetime | None = None) -> PayoutRun:
    """Turn approved, unpaid statements into draft payouts, one per affiliate and currency.

    The total is converted into the currency of the affiliate's default method at the locked
    rate: with the default lock mode, the rate published when the newest of its statements
    was approved (DOMAIN.md: locked at statement approval); with `disbursement`, a provisional
    rate now, locked again at payout approval. Under the method's threshold, or without an
    active method, the balance carries forward (a run line records why) and stays available to
    the next run. Statements are locked (pk order) and reserved by allocations, so two runs at
    once never pay a statement twice.
    """
    now = now or timezone.now()
    lock_mode = conf.text("AFFILIATEHUB_PAYOUT_FX_LOCK")
    if lock_mode not in FxLockMode.values:
        raise PayoutError(f"AFFILIATEHUB_PAYOUT_FX_LOCK must be one of {FxLockMode.values}.")
    with transaction.atomic():
        statements = list(
            unpaid_statements()
            .annotate(held_by=Subquery(_statement_line_holds().values("label")[:1]))
            .select_for_update(of=("self",), skip_locked=True)
            .order_by("pk")
        )
        groups: dict[tuple[int, str], list[Statement]] = defaultdict(list)
        held_groups: dict[tuple[int, str], list[Statement]] = defaultdict(list)
        for statement in statements:
            # A statement carrying a held ledger line (a risk case) is not paid until released.
            target = held_groups if statement.held_by else groups
            target[(statement.affiliate_id, statement.currency)].append(statement)
        methods = _default_methods({affiliate_id for affiliate_id, _ in groups})
        holds = _holds_for({affiliate_id for affiliate_id, _ in groups}, acting_user)
        run = PayoutRun.objects.create(created_by=acting_user, source="statements")
        totals: dict[str, Decimal] = defaultdict(Decimal)
        lines = [
            PayoutRunLine(
                run=run,
                affiliate_id=affiliate_id,
                source_amount=sum((s.total for s in group), Decimal(0)),
                source_currency=currency,
                outcome=PayoutRunLine.Outcome.HELD,
                note=f"Held: {group[0].held_by} (statement {', '.join(str(s.pk) for s in group)})"[
                    :300
                ],
            )
            for (affiliate_id, currency), group in sorted(held_groups.items())
        ]
        for (affiliate_id, currency), group in sorted(groups.items()):
            balance = sum((s.total for s in group), Decimal(0))
            line = PayoutRunLine(
                run=run,
                affiliate_id=affiliate_id,
                source_amount=balance,
                source_currency=currency,
                outcome=PayoutRunLine.Outcome.CARRIED_FORWARD,
            )
            lines.append(line)
            method = methods.get(affiliate_id)
            if affiliate_id in holds:
                line.outcome, line.note = (
                    PayoutRunLine.Outcome.HELD,
                    f"Held: {holds[affiliate_id].reason}"[:300],
                )
                continue
            if balance <= 0:
                line.note = "No positive balance."
                continue
            if method is None:
                line.note = "No active default payout method."
                continue
            line.method_currency, line.threshold = method.currency, method.effective_threshold
            rate_time = (
                max(s.approved_at for s in group)
                if lock_mode == FxLockMode.STATEMENT_APPROVAL
                else now
            )
            try:
                quote = fx_quote(base=currency, quote=method.currency, at=rate_time)
            except FxRateMissing as exc:
                line.note = str(exc)[:300]
                continue
            amount = quote.convert(balance)
            line.converted_amount = amount
            if amount < method.effective_threshold or amount <= 0:
                line.note = (
                    f"Under the {method.get_kind_display()} threshold of "
                    f"{method.effective_threshold} {method.currency}."
                )
                continue
            payout = _payout_create(
                run=run,
                method=method,
                amount=amount,
                balance=balance,
                currency=currency,
                quote=quote,
                lock_mode=lock_mode,
                now=now,
                group=group,
            )
            line.outcome, line.payout, line.note = PayoutRunLine.Outcome.PAYOUT, payout, ""
            totals[payout.currency] += payout.amount
        PayoutRunLine.objects.bulk_create(lines)
        run.payout_count = sum(1 for line in lines if line.outcome == PayoutRunLine.Outcome.PAYOUT)
        held = sum(1 for line in lines if line.outcome == PayoutRunLine.Outcome.HELD)
        run.carried_forward_count = len(lines) - run.payout_count
        run.totals = {currency: str(total) for currency, total in sorted(totals.items())}
        run.save(update_fields=["payout_count", "carried_forward_count", "totals"])
        audit_record(
            action="payout_run.created",
            instance=run,
            actor=acting_user,
            actor_label="" if acting_user else "system",
            after={
                "payouts": run.payout_count,
                "carried_forward": run.carried_forward_count,
                "held": held,
                "totals": run.totals,
            },
        )
    return run


def _statement_line_holds():
    """Live holds on approved lines of the statement `OuterRef` (its period, affiliate,
    currency)."""
    return CommissionHold.objects.filter(
        released_at__isnull=True,
        entry__status=CommissionEntry.Status.APPROVED,
        entry__statement_period=OuterRef("period"),
        entry__affiliate_id=OuterRef("affiliate_id"),
        entry__currency=OuterRef("currency"),
    ).order_by("pk")


def _payout_create(
    *, run, method, amount, balance, currency, quote: FxQuote, lock_mode, now, group
) -> Payout:
    payout = Payout.objects.create(
        reference=new_reference(now),
        affiliate_id=method.affiliate_id,
        method=method,
        run=run,
        amount=amount,
        currency=method.currency,
        source_amount=balance,
        source_currency=currency,
        fx_rate=quote.rate,
        fx_source=quote.source,
        fx_as_of=quote.as_of,
        fx_lock_mode=lock_mode,
        # Locked at statement approval: final now. At disbursement: set when approved.
        fx_locked_at=now if lock_mode == FxLockMode.STATEMENT_APPROVAL else None,
    )
    PayoutAllocation.objects.bulk_create(
        [
            PayoutAllocation(payout=payout, statement=s, amount=s.total, currency=s.currency)
            for s in group
        ]
    )
    audit_record(
        action="payout.created",
        instance=payout,
        actor=run.created_by,
        actor_label="" if run.created_by else "payout run",
        after=snapshot(payout, _AUDITED) | {"statements": [s.pk for s in group]},
    )
    return payout
