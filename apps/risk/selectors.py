"""Reads of the risk queue: cases with their held amounts, per-rule statistics, daily figures."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import CharField, Count, F, OuterRef, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Concat, JSONObject
from django.utils import timezone

from apps.commissions.models import CommissionHold
from apps.core.display import format_money
from apps.core.filters import filterset_apply
from apps.players.models import Player
from apps.risk.filters import RiskCaseFilter
from apps.risk.models import RiskCase, RiskDecision, RiskRule, RiskSignal


def held_amounts(case_ids) -> dict[int, dict[str, Decimal]]:
    """{case id: {currency: amount held now}} from the live ledger-line holds (one query)."""
    result: dict[int, dict[str, Decimal]] = defaultdict(dict)
    rows = (
        CommissionHold.objects.filter(
            reference__in=[f"risk_case:{pk}" for pk in case_ids], released_at__isnull=True
        )
        .values("reference", "entry__currency")
        .annotate(total=Sum("entry__amount"))
        .order_by()
    )
    for row in rows:
        case_id = int(row["reference"].split(":", 1)[1])
        result[case_id][row["entry__currency"]] = row["total"]
    return result


def with_held_now(queryset: QuerySet[RiskCase]) -> QuerySet[RiskCase]:
    """The cases, each with `held_now_rows`: what its live holds hold now, one row per currency
    ({"currency": "EUR", "amount": "600.00"}; amounts as text, read back by `held_now_of`).
    One correlated subquery in the cases' own query (the hold reference is indexed): a page of
    cases costs no query per case, and nothing is kept between requests."""
    per_currency = (
        CommissionHold.objects.filter(
            reference=Concat(Value("risk_case:"), Cast(OuterRef("pk"), CharField())),
            released_at__isnull=True,
        )
        .values("entry__currency")
        .annotate(
            row=JSONObject(
                currency=F("entry__currency"),
                amount=Cast(Sum("entry__amount"), CharField()),
            )
        )
        .values("row")
        .order_by()
    )
    return queryset.annotate(held_now_rows=ArraySubquery(per_currency))


def held_now_of(case: RiskCase) -> dict[str, Decimal]:
    """{currency: amount held now} of a case read through `with_held_now` (else one query)."""
    rows = getattr(case, "held_now_rows", None)
    if rows is None:
        return held_amounts([case.pk]).get(case.pk, {})
    return {row["currency"]: Decimal(row["amount"]) for row in rows}


def risk_case_list(*, filters=None, queryset: QuerySet[RiskCase] | None = None) -> QuerySet:
    """Cases for the read API and the admin: players and signals prefetched (no N+1)."""
    base = queryset if queryset is not None else RiskCase.objects.all()
    return filterset_apply(RiskCaseFilter, data=filters, queryset=base).prefetch_related(
        Prefetch("players", queryset=Player.objects.order_by("pk")),
        Prefetch(
            "signals",
            queryset=RiskSignal.objects.select_related("rule")
            .prefetch_related("players")
            .order_by("pk"),
        ),
    )


def affiliate_live_cases(affiliate_ids) -> dict[int, RiskCase]:
    return {
        c.affiliate_id: c
        for c in RiskCase.objects.filter(
            affiliate_id__in=list(affiliate_ids), status__in=RiskCase.LIVE
        )
    }


def with_rule_statistics(queryset: QuerySet) -> QuerySet:
    """Rules with what decided cases say about them, in the rules' own query: `signal_count`
    (signals raised), `decided` (cleared or confirmed cases they were in), `confirmed`."""
    return queryset.annotate(
        signal_count=Count("signals", distinct=True),
        decided=Count(
            "signals__case",
            filter=Q(signals__case__status__in=["cleared", "confirmed"]),
            distinct=True,
        ),
        confirmed=Count(
            "signals__case", filter=Q(signals__case__status="confirmed"), distinct=True
        ),
    )


def rule_precision(*, decided: int, confirmed: int) -> Decimal | None:
    """Confirmed cases are the labels: precision = confirmed / decided (None before any)."""
    return Decimal(confirmed) / Decimal(decided) if decided else None


def rule_statistics() -> dict[int, dict]:
    """Per rule: signals raised, decided cases they were in, confirmed among those, and the
    precision (confirmed / decided)."""
    rows = with_rule_statistics(RiskRule.objects.all()).values(
        "pk", "signal_count", "decided", "confirmed"
    )
    return {
        row["pk"]: {
            **row,
            "precision": rule_precision(decided=row["decided"], confirmed=row["confirmed"]),
        }
        for row in rows
    }


def risk_figures(*, now: dt.datetime | None = None) -> dict:
    """For the health page and /metrics (three queries): cases opened in the last 24 h, in all
    and live; commission held by live cases per currency; decisions in the last 24 h and in all,
    per action."""
    now = now or timezone.now()
    day = now - dt.timedelta(days=1)
    cases = RiskCase.objects.aggregate(
        opened_24h=Count("id", filter=Q(opened_at__gte=day)),
        live=Count("id", filter=Q(status__in=RiskCase.LIVE)),
        total=Count("id"),
    )
    held: dict[str, Decimal] = defaultdict(Decimal)
    for currency, total in (
        CommissionHold.objects.filter(reference__startswith="risk_case:", released_at__isnull=True)
        .values_list("entry__currency")
        .annotate(total=Sum("entry__amount"))
        .order_by()
    ):
        held[currency] += total
    actions = RiskDecision.Action.values
    decisions = RiskDecision.objects.aggregate(
        **{f"{a}_24h": Count("id", filter=Q(action=a, decided_at__gte=day)) for a in actions},
        **{f"{a}_total": Count("id", filter=Q(action=a)) for a in actions},
    )
    return {
        "cases_opened_24h": cases["opened_24h"],
        "cases_live": cases["live"],
        "cases_opened_total": cases["total"],
        "held": dict(sorted(held.items())),
        "decisions_24h": {a: decisions[f"{a}_24h"] for a in actions},
        "decisions_total": {a: decisions[f"{a}_total"] for a in actions},
    }


def approval_notes(affiliate_ids: set[int]) -> dict[int, list[str]]:
    """For the payout approval page (apps.payouts.selectors.approval_note_register): one line per
    open case of each affiliate, with what it holds (two queries for the whole page)."""
    cases = list(
        RiskCase.objects.filter(affiliate_id__in=affiliate_ids, status__in=RiskCase.LIVE).order_by(
            "pk"
        )
    )
    held = held_amounts([c.pk for c in cases])
    notes: dict[int, list[str]] = defaultdict(list)
    for case in cases:
        amounts = (
            ", ".join(format_money(a, c) for c, a in sorted(held.get(case.pk, {}).items()))
            or "no commission"
        )
        notes[case.affiliate_id].append(
            f"Under review: {case.label} ({case.get_status_display().lower()}, score {case.score}) "
            f"holds {amounts}"
            + ("; the affiliate's payouts are held." if case.payout_hold_id else ".")
        )
    return notes
