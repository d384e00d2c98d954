"""The finance half of the demo: plans of every kind assigned to the demo affiliates, FX rates and
payout methods, past months closed into approved statements, payout runs month by month with
payouts left in every state, clawback decisions, and the controls waiting for a second person.

Everything goes through the services Finance's admin calls, with the demo Finance users as the
actors (a maker prepares, a checker approves); the gateway's side (accepting a request, confirming
or failing a payout) goes through the same outbound-delivery record and inbound webhook handlers
the real gateway drives.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.affiliates.services import affiliate_suspend
from apps.commissions import periods
from apps.commissions.models import ClawbackCase, Statement
from apps.commissions.services import (
    clawback_case_approve,
    clawback_case_dismiss,
    plan_assignment_create,
    plan_create,
    statement_approve,
    statements_close,
)
from apps.integrations.models import OutboundDelivery, OutboundEndpoint
from apps.integrations.outbound import public as outbound
from apps.payouts.adjustments import manual_adjustment_request
from apps.payouts.fx import fx_rate_record
from apps.payouts.method_changes import payout_method_change_request
from apps.payouts.models import ManualAdjustment, Payout, PayoutMethod, PayoutMethodChange
from apps.payouts.services import (
    GATEWAY_TOPIC,
    payout_approve,
    payout_cancel,
    payout_method_create,
    payout_retry,
    payout_run_create,
    payout_submit_for_approval,
)
from apps.sandbox import gateway
from apps.sandbox.demo_feed import DemoFeed
from apps.sandbox.gateway_setup import sandbox_gateway_setup
from apps.sandbox.world import PAYMENTS

SOURCE = "demo_seed"
D = Decimal

# name -> (kind, currency, terms, tiers, lot rates per instrument group)
PLANS: dict[str, tuple] = {
    "Demo RevShare 25-35% (NGR tiers)": (
        "revshare",
        "EUR",
        {
            "revshare_percent": D(25),
            "admin_fee_percent": D(10),
            "carryover": "carry",
            "revshare_tier_basis": "ngr",
            "revshare_tier_mode": "whole",
        },
        [("revshare", D(0), D(25)), ("revshare", D(5000), D(30)), ("revshare", D(15000), D(35))],
        None,
    ),
    "Demo CPA 150 EUR": (
        "cpa",
        "EUR",
        {
            "cpa_amount": D(150),
            "cpa_min_ftd": D(20),
            "cpa_window_days": 30,
            "cpa_hold_days": 14,
        },
        [],
        None,
    ),
    "Demo Hybrid 50 EUR + 20%": (
        "hybrid",
        "EUR",
        {
            "cpa_amount": D(50),
            "cpa_min_ftd": D(20),
            "cpa_kyc_required": False,
            "revshare_percent": D(20),
        },
        [],
        None,
    ),
    "Demo Network RevShare 30% + 10% sub-affiliate override": (
        "revshare",
        "EUR",
        {
            "revshare_percent": D(30),
            "override_percent": D(10),
        },
        [],
        None,
    ),
    "Demo Network override 10% (trading)": (
        "lot_rebate",
        "USD",
        {"override_percent": D(10)},
        [],
        {},
    ),
    "Demo IB lot rebate": (
        "lot_rebate",
        "USD",
        {"min_hold_seconds": 120},
        [],
        {
            "fx_major": D(5),
            "fx_minor": D(6),
            "metals": D(8),
            "indices": D(1),
            "energy": D(3),
            "crypto": D(2),
        },
    ),
    "Demo spread share 30%": (
        "spread_share",
        "USD",
        {"spread_share_percent": D(30), "min_hold_seconds": 120},
        [],
        None,
    ),
}

# affiliate email -> {brand: plan name}
ASSIGNMENTS = {
    "partners@casinoguru-media.demo": {"spinpalace": "Demo RevShare 25-35% (NGR tiers)"},
    "affiliates@slotsreview.demo": {"spinpalace": "Demo CPA 150 EUR"},
    "ib@fxsignals.demo": {"tradeking": "Demo IB lot rebate"},
    "network@bonushunters.demo": {
        "spinpalace": "Demo Network RevShare 30% + 10% sub-affiliate override",
        "tradeking": "Demo Network override 10% (trading)",
    },
    "de@bonushunters.demo": {
        "spinpalace": "Demo Hybrid 50 EUR + 20%",
        "tradeking": "Demo spread share 30%",
    },
    "ops@roguetraffic.demo": {"spinpalace": "Demo CPA 150 EUR"},
}

# affiliate email -> (kind, currency of the affiliate, details, threshold)
PAYOUT_METHODS = {
    "partners@casinoguru-media.demo": ("skrill", {"email": "finance@casinoguru-media.demo"}, None),
    "affiliates@slotsreview.demo": (
        "bank_wire",
        {"iban": "GB33BUKB20201555555555", "bic": "BUKBGB22"},
        D(100),
    ),
    "ib@fxsignals.demo": ("neteller", {"email": "payouts@fxsignals.demo"}, None),
    "network@bonushunters.demo": (
        "bank_wire",
        {"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
        D(100),
    ),
    "de@bonushunters.demo": ("skrill", {"email": "de@bonushunters.demo"}, None),
    "ops@roguetraffic.demo": ("skrill", {"email": "ops@roguetraffic.demo"}, None),
}

FX_RATES = {
    ("EUR", "GBP"): "0.8612",
    ("EUR", "USD"): "1.0846",
    ("USD", "EUR"): "0.9220",
    ("USD", "GBP"): "0.7940",
    ("GBP", "EUR"): "1.1611",
    ("GBP", "USD"): "1.2594",
}

SUSPENDED = "ops@roguetraffic.demo"
# The last payout run leaves one payout in each state Finance works on (by affiliate).
LAST_RUN_STATES = {
    "partners@casinoguru-media.demo": "pending_approval",
    "affiliates@slotsreview.demo": "draft",
    "ib@fxsignals.demo": "failed",
    "de@bonushunters.demo": "approved",
    "network@bonushunters.demo": "submitted",
}
FAILURE = (
    "account_closed",
    "Beneficiary account closed at the e-wallet provider (sandbox gateway).",
)


@dataclass
class FinanceResult:
    plans: int = 0
    closed: list[str] = field(default_factory=list)
    statements: int = 0
    payouts: Counter = field(default_factory=Counter)
    clawbacks: Counter = field(default_factory=Counter)


def plans_assign(*, affiliates: dict[str, Affiliate], valid_from: dt.date, acting_user) -> int:
    """Create the demo plans (audited) and put each demo affiliate on its plan per brand."""
    plans = {
        name: plan_create(
            name=name,
            kind=kind,
            currency=currency,
            terms=terms,
            tiers=tiers,
            lot_rates=rates,
            acting_user=acting_user,
        )
        for name, (kind, currency, terms, tiers, rates) in PLANS.items()
    }
    for email, by_brand in ASSIGNMENTS.items():
        for brand, plan_name in by_brand.items():
            plan_assignment_create(
                affiliate=affiliates[email],
                brand=brand,
                plan=plans[plan_name],
                valid_from=valid_from,
                acting_user=acting_user,
            )
    return len(plans)


def payment_setup(
    *, affiliates: dict[str, Affiliate], rates_from: dt.datetime, acting_user, base_url: str
) -> None:
    """FX rates (published before any statement is approved), a payout method per affiliate
    (the bootstrap path system set-up uses), and the sandbox gateway payout requests go to
    (`make run` points it at its port again right after the seed)."""
    for (base, quote), rate in FX_RATES.items():
        fx_rate_record(
            base=base,
            quote=quote,
            rate=D(rate),
            source="ECB reference (demo)",
            as_of=rates_from,
            acting_user=acting_user,
        )
    for email, (kind, details, threshold) in PAYOUT_METHODS.items():
        affiliate = affiliates[email]
        payout_method_create(
            affiliate=affiliate,
            kind=kind,
            currency=affiliate.payout_currency,
            details=details,
            threshold=threshold,
            beneficiary_name=affiliate.name,
        )
    if not OutboundEndpoint.objects.filter(
        kind=OutboundEndpoint.Kind.GATEWAY, is_active=True
    ).exists():
        sandbox_gateway_setup(base_url=base_url)  # a hub that has a payment gateway keeps it


def gateway_accepts(payout: Payout, *, gateway_settles: bool = False) -> None:
    """The gateway answered our payout request 202: recorded as the outbound engine records an
    answer (its outcome handler moves the payout to submitted). No HTTP in the seed.

    `gateway_settles`: the sandbox gateway also records the request, exactly as its HTTP view
    would, so it settles the payout and reports the result once `make run` is up (its sweeper,
    a minute or two after start), as a real gateway reports a payout it accepted. Otherwise the
    seed reports the result itself (failed, retried and completed payouts)."""
    delivery = (
        OutboundDelivery.objects.filter(topic=GATEWAY_TOPIC, subject=payout.reference)
        .order_by("-pk")
        .first()
    )
    claimed = outbound.delivery_claim(delivery_id=delivery.pk)
    outbound.delivery_record(
        claimed=claimed,
        result=outbound.HttpResult(
            response_code=202,
            body='{"status": "accepted"}',
            error="",
            duration_ms=35,
            retry_after=None,
            started_at=timezone.now(),
        ),
    )
    if gateway_settles:
        gateway.gateway_payout_request(
            idempotency_key=delivery.headers["Idempotency-Key"], body=delivery.payload
        )


def _gateway_reports(feed: DemoFeed, payout: Payout, event_type: str, **extra) -> None:
    feed.add(
        PAYMENTS,
        event_type,
        {
            "payout_reference": payout.reference,
            "gateway_reference": f"SBX-{payout.reference[-10:]}",
            **extra,
        },
        at=timezone.now(),
    )
    feed.flush()


def payout_to(*, payout: Payout, state: str, feed: DemoFeed, maker, checker) -> Payout:
    """Walk a draft payout to `state` through Finance's and the gateway's transitions."""
    _payout_walk(payout=payout, state=state, feed=feed, maker=maker, checker=checker)
    return Payout.objects.get(pk=payout.pk)


def _payout_walk(*, payout: Payout, state: str, feed: DemoFeed, maker, checker) -> None:
    if state == "draft":
        return
    if state == "cancelled":
        payout_cancel(
            payout=payout,
            acting_user=maker,
            reason="demo: the affiliate asked to be paid together with next month",
        )
        return
    payout = payout_submit_for_approval(payout=payout, acting_user=maker)
    if state == "pending_approval":
        return
    payout = payout_approve(payout=payout, acting_user=checker)
    if state == "approved":
        return  # the live sandbox gateway pays it once `make run` is up
    gateway_accepts(payout, gateway_settles=state == "submitted")
    if state in ("failed", "retried"):
        _gateway_reports(feed, payout, "payout.failed", reason_code=FAILURE[0], message=FAILURE[1])
        if state == "failed":
            return
        payout = payout_retry(payout=Payout.objects.get(pk=payout.pk), acting_user=checker)
        gateway_accepts(payout)
    if state in ("completed", "retried"):
        _gateway_reports(feed, payout, "payout.confirmed")


def month_close(*, period: dt.date, now: dt.datetime, checker) -> int:
    """Close a month and approve its statements (Finance)."""
    statements_close(period=period, acting_user=checker, now=now)
    statements = list(
        Statement.objects.filter(period=period, status=Statement.Status.CLOSED).order_by("pk")
    )
    for statement in statements:
        statement_approve(statement=statement, acting_user=checker)
    return len(statements)


def payout_cycles(
    *,
    affiliates: dict[str, Affiliate],
    first_period: dt.date,
    now: dt.datetime,
    feed: DemoFeed,
    maker,
    checker,
    result: FinanceResult,
) -> None:
    """Every past month in turn: close it, approve its statements, run payouts and take them
    through to the gateway. Older months end paid (one retried after a failure, one cancelled and
    carried into the next run); the last run leaves one payout in each state Finance works on,
    and the suspended affiliate's balance held."""
    open_period = periods.period_of(now)
    months = []
    period = first_period
    while period < open_period:
        months.append(period)
        period = periods.next_period(period)
    email_of = {a.pk: email for email, a in affiliates.items()}
    # Compliance suspended Rogue Traffic before the first run: its balance is held, not paid.
    affiliate_suspend(
        affiliate=affiliates[SUSPENDED], acting_user=None, reason="demo: incentivised push traffic"
    )
    for index, period in enumerate(months):
        last = index == len(months) - 1
        result.statements += month_close(period=period, now=now, checker=checker)
        result.closed.append(f"{period:%Y-%m}")
        run = payout_run_create(acting_user=maker)
        for payout in run.payouts.order_by("pk"):
            email = email_of.get(payout.affiliate_id)
            state = "completed"
            if last:
                state = LAST_RUN_STATES.get(email, "draft")
            elif index == len(months) - 2 and email == "network@bonushunters.demo":
                state = "cancelled"
            elif index == len(months) - 3 and email == "ib@fxsignals.demo":
                state = "retried"
            payout = payout_to(payout=payout, state=state, feed=feed, maker=maker, checker=checker)
            result.payouts[payout.status] += 1


def clawbacks_decide(*, checker, result: FinanceResult) -> None:
    """Finance decides some of the cases the chargebacks opened; the rest wait in the queue."""
    cases = list(ClawbackCase.objects.filter(status=ClawbackCase.Status.OPEN).order_by("pk"))
    for case in cases[:2]:
        clawback_case_approve(
            case=case,
            acting_user=checker,
            reason="demo: chargeback confirmed by the payment provider as fraud",
        )
    for case in cases[2:3]:
        clawback_case_dismiss(
            case=case,
            acting_user=checker,
            reason="demo: the chargeback was reversed in the operator's favour",
        )
    result.clawbacks.update(ClawbackCase.objects.values_list("status", flat=True))


def controls_pending(*, affiliates: dict[str, Affiliate], now: dt.datetime, maker) -> None:
    """What waits for a second Finance user: a new payout destination and a manual credit."""
    slots = affiliates["affiliates@slotsreview.demo"]
    payout_method_change_request(
        affiliate=slots,
        action=PayoutMethodChange.Action.CREATE,
        acting_user=maker,
        values={
            "kind": PayoutMethod.Kind.NETELLER,
            "currency": slots.payout_currency,
            "details": {"email": "payments@slotsreview.demo"},
            "beneficiary_name": slots.name,
        },
        reason="demo: the affiliate asked to be paid by Neteller from now on",
    )
    manual_adjustment_request(
        affiliate=affiliates["partners@casinoguru-media.demo"],
        amount=D("250.00"),
        currency="EUR",
        reason_code=ManualAdjustment.ReasonCode.MISSED_CONVERSION,
        note="demo: 5 players registered while the tracking link was down (ticket OPS-1432)",
        period=periods.period_of(now),
        acting_user=maker,
    )
