"""Affiliate status holds money (issue 12 §5) and manual adjustments need a second Finance user
(§6): held balances are visible with their reason, never dropped, and released only by Finance;
an adjustment reaches the ledger, its statement line and the read API only once approved."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from apps.affiliates.services import affiliate_activate, affiliate_ban, affiliate_suspend
from apps.commissions.models import CommissionEntry, StatementLine
from apps.commissions.services import statements_close
from apps.core.models import AuditLog
from apps.payouts import adjustments, services
from apps.payouts.adjustments import ManualAdjustmentRefused
from apps.payouts.models import ManualAdjustment, PayoutHold, PayoutRunLine
from apps.payouts.services import PayoutError
from tests.factories import AffiliateFactory, UserFactory

from .factories import PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db


@pytest.fixture
def suspended_with_balance(affiliate, method, gateway):
    approved_statement(affiliate=affiliate, total="300.00")
    return affiliate_suspend(affiliate=affiliate, reason="incentivised traffic")


# ---- held balances -------------------------------------------------------------------------------


def test_a_suspended_affiliates_balance_is_held_with_its_reason_not_dropped(
    suspended_with_balance, finance_maker
):
    run = services.payout_run_create(acting_user=finance_maker)
    assert run.payout_count == 0
    (line,) = run.lines.all()
    assert line.outcome == PayoutRunLine.Outcome.HELD and "suspended" in line.note
    assert line.source_amount == Decimal("300.00") and line.source_currency == "EUR"
    hold = PayoutHold.objects.get(affiliate=suspended_with_balance, released_at__isnull=True)
    assert AuditLog.objects.filter(action="payout_hold.placed", object_id=str(hold.pk)).exists()
    # Still the affiliate's balance, and held again by the next run (one live hold).
    assert services.affiliate_balances()[(suspended_with_balance.pk, "EUR")] == Decimal("300.00")
    assert services.payout_run_create().lines.get().outcome == PayoutRunLine.Outcome.HELD
    assert PayoutHold.objects.filter(affiliate=suspended_with_balance).count() == 1


def test_a_banned_affiliate_is_held_too(affiliate, method, gateway):
    approved_statement(affiliate=affiliate, total="90.00")
    affiliate_ban(affiliate=affiliate, reason="fraud")
    assert services.payout_run_create().lines.get().note.startswith("Held: Affiliate banned")


def test_reactivation_alone_does_not_pay_finance_releases_the_hold(
    suspended_with_balance, finance_checker
):
    services.payout_run_create()
    hold = PayoutHold.objects.get()
    with pytest.raises(PayoutError, match="must be reactivated"):
        services.payout_hold_release(hold=hold, acting_user=finance_checker, reason="Cleared")
    affiliate_activate(affiliate=suspended_with_balance, reason="investigation closed")
    assert services.payout_run_create().lines.get().outcome == PayoutRunLine.Outcome.HELD

    retention = UserFactory(username="retention", roles=["Retention"])
    with pytest.raises(PayoutError, match="Finance permission"):
        services.payout_hold_release(hold=hold, acting_user=retention, reason="Cleared")
    services.payout_hold_release(
        hold=hold, acting_user=finance_checker, reason="Investigation closed, pay out"
    )
    run = services.payout_run_create()
    assert run.payout_count == 1 and run.payouts.get().source_amount == Decimal("300.00")


def test_the_hold_admin_shows_the_held_balance(client, suspended_with_balance, finance_checker):
    services.payout_run_create()
    client.force_login(finance_checker)
    page = client.get(reverse("admin:payouts_payouthold_changelist")).content.decode()
    assert "300.00 EUR" in page and "Suspended" in page


# ---- manual adjustments --------------------------------------------------------------------------


@pytest.fixture
def credit(affiliate, finance_maker):
    return adjustments.manual_adjustment_request(
        affiliate=affiliate,
        amount=Decimal("75.50"),
        currency="EUR",
        reason_code="missed_conversion",
        note="Player 4711's FTD arrived after the window (ticket 99)",
        period=dt.date(2026, 1, 1),
        acting_user=finance_maker,
    )


def test_an_adjustment_reaches_nothing_until_a_second_finance_user_approves(
    credit, finance_maker, finance_checker
):
    assert not CommissionEntry.objects.exists()
    with pytest.raises(ManualAdjustmentRefused, match="another Finance user"):
        adjustments.manual_adjustment_approve(adjustment=credit, acting_user=finance_maker)
    assert not CommissionEntry.objects.exists()

    approved = adjustments.manual_adjustment_approve(adjustment=credit, acting_user=finance_checker)
    entry = approved.entry
    assert (entry.kind, entry.status, entry.amount, entry.currency) == (
        "adjustment",
        "approved",
        Decimal("75.5"),
        "EUR",
    )
    assert entry.period == entry.statement_period == dt.date(2026, 1, 1)
    assert (
        entry.detail["reason_code"] == "missed_conversion"
        and entry.detail["approved_by"] == "finance-checker"
    )
    # Approving twice books nothing twice.
    with pytest.raises(ManualAdjustmentRefused, match="already approved"):
        adjustments.manual_adjustment_approve(adjustment=credit, acting_user=finance_checker)
    assert CommissionEntry.objects.count() == 1


def test_an_approved_adjustment_is_its_own_statement_line_and_in_the_read_api(
    credit, finance_checker, api_key_factory, settings
):
    settings.AFFILIATEHUB_API_SETTLE_SECONDS = 0  # rows visible to the read API at once
    adjustments.manual_adjustment_approve(adjustment=credit, acting_user=finance_checker)
    statements_close(period=dt.date(2026, 1, 1))
    line = StatementLine.objects.get(statement__affiliate=credit.affiliate, kind="adjustment")
    assert (line.amount, line.entry_count, line.statement.total) == (
        Decimal("75.50"),
        1,
        Decimal("75.50"),
    )
    assert line.get_kind_display() == "Manual adjustment"

    rows = (
        api_key_factory("commissions:read")
        .get("/api/v1/commissions/", {"kind": "adjustment"})
        .json()["results"]
    )
    assert [(r["kind"], r["amount"], r["status"]) for r in rows] == [
        ("adjustment", "75.50000000", "approved")
    ]
    statement = (
        api_key_factory("statements:read", name="st")
        .get("/api/v1/statements/")
        .json()["results"][0]
    )
    assert {"kind": "adjustment", "amount": "75.50000000"}.items() <= statement["lines"][0].items()


def test_a_debit_for_a_closed_month_is_booked_in_the_next_open_one(
    affiliate, finance_maker, finance_checker
):
    statements_close(period=dt.date(2026, 1, 1))
    debit = adjustments.manual_adjustment_request(
        affiliate=affiliate,
        amount=Decimal("-20"),
        currency="EUR",
        reason_code="fee",
        note="Chargeback fee",
        period=dt.date(2026, 1, 1),
        acting_user=finance_maker,
    )
    entry = adjustments.manual_adjustment_approve(
        adjustment=debit, acting_user=finance_checker
    ).entry
    assert entry.amount == Decimal("-20") and entry.period == dt.date(2026, 2, 1)


def test_a_rejected_adjustment_books_nothing_and_says_why(credit, finance_checker):
    rejected = adjustments.manual_adjustment_reject(
        adjustment=credit, acting_user=finance_checker, reason="Duplicate"
    )
    assert (
        rejected.status == "rejected"
        and rejected.entry is None
        and not CommissionEntry.objects.exists()
    )
    assert AuditLog.objects.filter(action="manual_adjustment.rejected", reason="Duplicate").exists()


@pytest.mark.parametrize(
    "amount,note,code,match",
    [
        (Decimal("0"), "x", "goodwill", "non-zero"),
        (Decimal("5"), " ", "goodwill", "note"),
        (Decimal("5"), "x", "bonus", "reason code"),
    ],
)
def test_an_adjustment_needs_an_amount_a_note_and_a_reason_code(
    affiliate, finance_maker, amount, note, code, match
):
    with pytest.raises(ManualAdjustmentRefused, match=match):
        adjustments.manual_adjustment_request(
            affiliate=affiliate,
            amount=amount,
            currency="EUR",
            reason_code=code,
            note=note,
            period=dt.date(2026, 1, 1),
            acting_user=finance_maker,
        )
    assert not ManualAdjustment.objects.exists()


def test_finance_books_and_approves_adjustments_in_the_admin(
    client, finance_maker, finance_checker
):
    affiliate = AffiliateFactory()
    PayoutMethodFactory(affiliate=affiliate)
    client.force_login(finance_maker)
    response = client.post(
        reverse("admin:payouts_manualadjustment_add"),
        {
            "affiliate": affiliate.pk,
            "amount": "-12.30",
            "currency": "EUR",
            "reason_code": "correction",
            "note": "Double-counted lot rebate",
            "month": "2026-01",
        },
        follow=True,
    )
    assert "another Finance user must approve it" in response.content.decode()
    adjustment = ManualAdjustment.objects.get()
    url = reverse("admin:payouts_manualadjustment_changelist")
    refused = client.post(
        url, {"action": "approve_adjustments", "_selected_action": [adjustment.pk]}, follow=True
    )
    assert "another Finance user must decide it" in refused.content.decode()

    client.force_login(finance_checker)
    client.post(url, {"action": "approve_adjustments", "_selected_action": [adjustment.pk]})
    adjustment.refresh_from_db()
    assert adjustment.status == "approved" and adjustment.entry.amount == Decimal("-12.30")
