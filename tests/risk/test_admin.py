"""The risk queue in the admin, and "held: risk case N" where money is shown (issue 17 §5-§7)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.admin import site as admin_site
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.commissions.models import CommissionEntry
from apps.commissions.services import commission_lines_hold
from apps.core.models import AuditLog
from apps.payouts import services as payouts
from apps.payouts.models import Payout
from apps.payouts.selectors import approval_preview
from apps.risk.models import RiskCase, RiskRule
from tests.factories import AffiliateFactory, UserFactory
from tests.payouts.factories import GatewayEndpointFactory, PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance(client):
    user = UserFactory(roles=["Compliance"])
    client.force_login(user)
    return user


def test_the_queue_lists_live_cases_first_with_what_they_hold(client, compliance, ring):
    case = RiskCase.objects.get()
    decided = RiskCase.objects.create(
        affiliate=AffiliateFactory(),
        score=90,
        status="cleared",
        decided_by=compliance,
        decided_at=case.opened_at,
        decision_reason="ok",
    )
    page = client.get(reverse("admin:risk_riskcase_changelist")).content.decode()
    assert "600.00 EUR" in page
    change = reverse("admin:risk_riskcase_change", args=[case.pk])
    assert page.index(change) < page.index(reverse("admin:risk_riskcase_change", args=[decided.pk]))
    detail = client.get(reverse("admin:risk_riskcase_change", args=[case.pk])).content.decode()
    assert "decide-clear" in detail and "decide-confirm" in detail and "decide-escalate" in detail
    assert "ring-device-hash-01" not in detail  # evidence shows the masked value only
    assert "ring…h-01" in detail


def _case_holding(*lines: tuple[str, str]) -> RiskCase:
    """An open case holding a pending line of each (amount, currency)."""
    affiliate = AffiliateFactory()
    case = RiskCase.objects.create(affiliate=affiliate, score=80)
    entries = [
        CommissionEntry.objects.create(
            kind=CommissionEntry.Kind.ADJUSTMENT,
            affiliate=affiliate,
            idempotency_key=f"test:{case.pk}:{n}",
            period=dt.date(2026, 1, 1),
            occurred_at=case.opened_at,
            amount=Decimal(amount),
            currency=currency,
            status=CommissionEntry.Status.PENDING,
        )
        for n, (amount, currency) in enumerate(lines)
    ]
    commission_lines_hold(entries=entries, reference=case.reference, label=case.label)
    return case


def test_the_queue_shows_what_each_case_holds_per_currency_in_a_flat_number_of_queries(
    client, compliance
):
    """The held column comes with the cases' own query: ten cases cost what one costs, and the
    shared admin object keeps nothing of the request (threaded servers share it)."""
    url = reverse("admin:risk_riskcase_changelist")
    case_admin = admin_site._registry[RiskCase]
    state_before = set(vars(case_admin))
    _case_holding(("600.00", "EUR"), ("25.50", "USD"), ("100.00", "EUR"))
    with CaptureQueriesContext(connection) as one_case:
        page = client.get(url).content.decode()
    assert "700.00 EUR, 25.50 USD" in page

    for n in range(1, 10):
        _case_holding((f"{n}.25", "GBP"))
    with CaptureQueriesContext(connection) as ten_cases:
        page = client.get(url).content.decode()
    assert "700.00 EUR, 25.50 USD" in page
    assert all(f"{n}.25 GBP" in page for n in range(1, 10))
    assert len(ten_cases) == len(one_case)
    assert set(vars(case_admin)) == state_before


def test_deciding_from_the_case_page_asks_for_a_reason_then_records_it(client, compliance, ring):
    case = RiskCase.objects.get()
    url = reverse("admin:risk_riskcase_decide", args=[case.pk, "confirm"])
    form = client.get(url)
    assert form.status_code == 200 and "600.00 EUR" in form.content.decode()
    refused = client.post(url, {"reason": ""})
    assert refused.status_code == 200 and RiskCase.objects.get().status == "open"
    done = client.post(
        url, {"reason": "Ring of minimum depositors", "suspend_affiliate": "on"}, follow=True
    )
    assert "confirmed" in done.content.decode()
    case.refresh_from_db()
    assert case.status == "confirmed" and case.decided_by == compliance
    assert case.affiliate.status == "suspended"
    again = client.post(url, {"reason": "twice"}, follow=True)
    assert "already confirmed" in again.content.decode()


def test_rule_admin_refuses_unknown_or_malformed_parameters_and_audits_changes(client, compliance):
    rule = RiskRule.objects.get(code="velocity")
    url = reverse("admin:risk_riskrule_change", args=[rule.pk])
    bad = client.post(url, {"enabled": "on", "score": "30", "params": '{"multiplyer": 6}'})
    assert "Unknown parameter" in bad.content.decode()
    bad = client.post(url, {"enabled": "on", "score": "30", "params": '{"multiplier": "six"}'})
    assert "must be a number" in bad.content.decode()
    client.post(url, {"enabled": "on", "score": "30", "params": '{"multiplier": 6}'})
    rule.refresh_from_db()
    assert rule.params == {"multiplier": 6}
    audit = AuditLog.objects.get(object_type="risk.riskrule", object_id=str(rule.pk))
    assert audit.after["params"] == {"multiplier": 6}
    listing = client.get(reverse("admin:risk_riskrule_changelist")).content.decode()
    assert "precision" in listing and "First-deposit velocity" in listing


def test_ledger_line_and_affiliate_page_say_held_by_the_case(client, ring):
    client.force_login(UserFactory(is_superuser=True))
    case = RiskCase.objects.get()
    line = CommissionEntry.objects.filter(player=ring[0], kind="cpa").get()
    ledger = client.get(reverse("admin:commissions_commissionentry_changelist")).content.decode()
    assert f"held: risk case {case.pk}" in ledger
    detail = client.get(reverse("admin:commissions_commissionentry_change", args=[line.pk]))
    assert f"held: risk case {case.pk}" in detail.content.decode()
    affiliate = client.get(reverse("admin:affiliates_affiliate_change", args=[case.affiliate_id]))
    assert f"risk case {case.pk}" in affiliate.content.decode()


def test_statement_and_payout_pages_show_the_hold_and_approval_is_refused():
    """A hold placed after the payout was drafted: the statement and the payout say so, the
    approval preview warns, and approval is refused until release."""
    affiliate_statement = approved_statement(
        affiliate=PayoutMethodFactory().affiliate, total=Decimal("120.00")
    )
    GatewayEndpointFactory()
    payout = payouts.payout_run_create().payouts.get()
    payouts.payout_submit_for_approval(payout=payout, acting_user=UserFactory(roles=["Finance"]))
    case = RiskCase.objects.create(affiliate=payout.affiliate, score=40)
    line = CommissionEntry.objects.filter(affiliate=payout.affiliate).first()
    commission_lines_hold(entries=[line], reference=case.reference, label=case.label)
    checker = UserFactory(roles=["Finance"])
    with pytest.raises(payouts.PayoutTransitionRefused, match=f"held: risk case {case.pk}"):
        payouts.payout_approve(payout=payout, acting_user=checker)
    [row] = approval_preview(Payout.objects.filter(pk=payout.pk))["rows"]
    assert any(f"held: risk case {case.pk}" in w for w in row["warnings"])
    assert any(f"Under review: risk case {case.pk}" in w for w in row["warnings"])

    from django.test import Client

    client = Client()
    client.force_login(UserFactory(is_superuser=True))
    statement = client.get(
        reverse("admin:commissions_statement_change", args=[affiliate_statement.pk])
    ).content.decode()
    assert f"held: risk case {case.pk}" in statement
    page = client.get(reverse("admin:payouts_payout_change", args=[payout.pk])).content.decode()
    assert "Risk cases of this affiliate" in page and f"risk case {case.pk}" in page


def test_the_rule_list_shows_each_rules_precision_from_decided_cases(client, compliance, ring):
    """The figures come with the rules' own query; the shared admin object keeps nothing of the
    request."""
    case = RiskCase.objects.get()
    fired = {signal.rule.code for signal in case.signals.select_related("rule")}
    RiskCase.objects.filter(pk=case.pk).update(
        status="confirmed",
        decided_by=compliance,
        decided_at=case.opened_at,
        decision_reason="A ring of minimum depositors",
    )
    rule_admin = admin_site._registry[RiskRule]
    state_before = set(vars(rule_admin))
    listing = client.get(reverse("admin:risk_riskrule_changelist")).content.decode()
    assert fired and listing.count("100% (1 confirmed)") == len(fired)
    assert "—" in listing  # a rule that never fired in a decided case has no precision yet
    assert set(vars(rule_admin)) == state_before
