"""Commission terms that hold (issue 13): RevShare goes through the compliance gate, plans are
versioned, restatements reach later closed months. Worked examples with the arithmetic written
out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from apps.commissions.models import CommissionEntry, InstrumentGroup, Plan, Statement, StatementLine
from apps.commissions.services import (
    PlanError,
    plan_for,
    plan_for_period,
    plan_has_accrued,
    plan_update,
    plan_version_create,
    statement_adjustments,
    statements_close,
)
from apps.compliance.services import brand_licence_set, exclusion_override_create
from apps.core.models import AuditLog
from tests.commissions.factories import LotRateFactory, PlanAssignmentFactory, PlanFactory
from tests.factories import UserFactory

UTC = dt.UTC
D = Decimal
JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)
OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
pytestmark = pytest.mark.django_db


def revenue(pipeline, player, day: dt.date, ngr, *, report_id=None, sent_at=None):
    """One day's revenue report whose NGR is `ngr` (stakes - winnings, no deductions)."""
    stakes, winnings = (D(ngr), D(0)) if D(ngr) >= 0 else (D(0), -D(ngr))
    data = {
        "report_id": report_id or f"R-{player.pk}-{day}",
        "player_id": player.ref,
        "date": day,
        "currency": "EUR",
        "stakes": str(stakes),
        "winnings": str(winnings),
    }
    return pipeline.send(
        "crm",
        "revenue.reported",
        data,
        at=sent_at or dt.datetime.combine(day, dt.time(23), tzinfo=UTC),
    )


def self_exclude(pipeline, player, starts_at):
    return pipeline.send(
        "compliance",
        "self_exclusion.started",
        {"player_id": player.ref, "starts_at": starts_at},
        at=starts_at,
    )


def lines(affiliate, period) -> dict[str, Decimal]:
    statement = Statement.objects.get(affiliate=affiliate, period=period, currency="EUR")
    return {line.kind: line.amount for line in StatementLine.objects.filter(statement=statement)}


def revshare_player(make_player, *, percent=30, carryover="reset", **plan):
    plan = PlanFactory(
        kind=Plan.Kind.REVSHARE, revshare_percent=D(percent), carryover=carryover, **plan
    )
    assignment = PlanAssignmentFactory(plan=plan)
    return make_player(assignment.affiliate), plan


# --- DOMAIN.md "Controls": RevShare with a mid-month self-exclusion ------------------------------


def october_with_exclusion(pipeline, make_player):
    """30% plan; NGR 2,000.00 on 1-14 October, 1,500.00 on 15-31 October; the player
    self-excludes on 15 October at 10:00."""
    player, plan = revshare_player(make_player)
    revenue(pipeline, player, dt.date(2026, 10, 3), 1200)
    revenue(pipeline, player, dt.date(2026, 10, 14), 800)  # 1,200 + 800 = 2,000 before
    self_exclude(pipeline, player, dt.datetime(2026, 10, 15, 10, tzinfo=UTC))
    revenue(pipeline, player, dt.date(2026, 10, 15), 500)  # the day it starts is gated whole
    revenue(pipeline, player, dt.date(2026, 10, 28), 1000)  # 500 + 1,000 = 1,500 after
    return player, plan


def test_revshare_mid_month_self_exclusion_earns_600_and_suppresses_450(pipeline, make_player):
    player, _plan = october_with_exclusion(pipeline, make_player)
    statements_close(period=OCT)
    # Earned: 30% x 2,000.00 = 600.00. Suppressed: 30% x 1,500.00 = 450.00, paid to no one.
    assert lines(player.affiliate, OCT) == {"revshare": D("600.00")}
    earned = CommissionEntry.objects.get(kind="revshare", status="approved")
    assert (earned.amount, earned.quantity) == (D(600), D(2000))
    suppressed = CommissionEntry.objects.get(kind="revshare", status="suppressed")
    assert (suppressed.amount, suppressed.quantity, suppressed.player) == (D(450), D(1500), player)
    assert suppressed.status_reason == "Player self-excluded (2026-10-15 to 2026-10-28)"
    snapshot = Statement.objects.get(affiliate=player.affiliate).player_ngr.get()
    assert (snapshot.ngr, snapshot.suppressed_ngr) == (D(2000), D(1500))


def test_late_report_after_the_exclusion_books_a_suppressed_line_not_an_adjustment(
    pipeline, make_player
):
    player, _ = october_with_exclusion(pipeline, make_player)
    statements_close(period=OCT)
    # November: the CRM restates 28 October from 1,000 to 1,300 (+300 on a gated day) and
    # 3 October from 1,200 to 1,300 (+100 before the exclusion).
    late = dt.datetime(2026, 11, 4, 9, tzinfo=UTC)
    gated_event = revenue(
        pipeline, player, dt.date(2026, 10, 28), 1300, report_id="R-28b", sent_at=late
    )
    open_event = revenue(
        pipeline, player, dt.date(2026, 10, 3), 1300, report_id="R-3b", sent_at=late
    )
    # +300 x 30% = 90.00 would have been earned: suppressed, with the reason, in November.
    gated = CommissionEntry.objects.get(source_event_id=gated_event)
    assert (gated.kind, gated.status, gated.amount, gated.period) == (
        "revshare",
        "suppressed",
        D(90),
        NOV,
    )
    assert gated.status_reason.startswith("Player self-excluded")
    assert gated.restates_period == OCT
    assert not CommissionEntry.objects.filter(
        source_event_id=gated_event, status="approved"
    ).exists()
    # +100 x 30% = 30.00 is earned as an adjustment of October.
    adjustment = CommissionEntry.objects.get(source_event_id=open_event)
    assert (adjustment.kind, adjustment.status, adjustment.amount) == (
        "adjustment",
        "approved",
        D(30),
    )
    statements_close(period=NOV)
    november = Statement.objects.get(affiliate=player.affiliate, period=NOV)
    line = november.lines.get()
    assert (line.kind, line.restates_period, line.amount) == ("adjustment", OCT, D("30.00"))


def test_exclusion_override_lets_revshare_through_and_is_audited(pipeline, make_player):
    player, _ = october_with_exclusion(pipeline, make_player)
    exclusion_override_create(
        player=player,
        kind="exclusion",
        reason="Exclusion entered in error (ticket 4411)",
        starts_at=dt.datetime(2026, 10, 1, tzinfo=UTC),
        expires_at=dt.datetime(2026, 12, 1, tzinfo=UTC),
        acting_user=UserFactory(),
    )
    statements_close(period=OCT)
    # 30% x (2,000 + 1,500) = 1,050.00, nothing suppressed.
    assert lines(player.affiliate, OCT) == {"revshare": D("1050.00")}
    assert not CommissionEntry.objects.filter(status="suppressed").exists()
    assert AuditLog.objects.filter(action="exclusion_override.used").exists()


def test_withdrawn_licence_gates_the_days_it_was_withdrawn(pipeline, make_player):
    player, _ = revshare_player(make_player)
    revenue(pipeline, player, dt.date(2026, 10, 5), 1000)
    revenue(pipeline, player, dt.date(2026, 10, 12), 400)
    revenue(pipeline, player, dt.date(2026, 10, 25), 600)
    brand_licence_set(
        brand="spinpalace", country="DE", is_active=False, at=dt.datetime(2026, 10, 10, tzinfo=UTC)
    )
    brand_licence_set(
        brand="spinpalace", country="DE", is_active=True, at=dt.datetime(2026, 10, 20, tzinfo=UTC)
    )
    statements_close(period=OCT)
    # Licensed on 5 and 25 October: 30% x (1,000 + 600) = 480.00; 12 October: 30% x 400 = 120.00
    # suppressed.
    assert lines(player.affiliate, OCT) == {"revshare": D("480.00")}
    suppressed = CommissionEntry.objects.get(status="suppressed")
    assert suppressed.amount == D(120)
    assert suppressed.status_reason.startswith("Brand not licensed in the player's country")


# --- versions --------------------------------------------------------------------------------


def test_plan_version_change_mid_period(pipeline, make_player):
    """Lot rebate 5.00/lot on FX majors; version 2 pays 6.00/lot from 15 January. A hybrid plan's
    RevShare (25%, version 2: 30% from 15 January) is priced per period: January at version 1."""
    fx = InstrumentGroup.objects.get(code="fx_major")
    rebate = PlanFactory(kind=Plan.Kind.LOT_REBATE, currency="EUR")
    LotRateFactory(plan=rebate, group=fx, rate=D(5))
    assignment = PlanAssignmentFactory(plan=rebate, brand="spinpalace")
    player = make_player(assignment.affiliate)
    pipeline.trade(
        player.ref,
        deal_id="1",
        position_id="p1",
        symbol="EURUSD",
        lots="3",
        entry="in",
        closed_at=dt.datetime(2026, 1, 9, 9, tzinfo=UTC),
    )
    pipeline.trade(
        player.ref,
        deal_id="2",
        position_id="p1",
        symbol="EURUSD",
        lots="3",
        entry="out",
        closed_at=dt.datetime(2026, 1, 10, 9, tzinfo=UTC),
    )
    assert plan_has_accrued(rebate)
    with pytest.raises(PlanError, match="never edited in place"):
        plan_update(plan=rebate, changes={"min_hold_seconds": 60})
    with pytest.raises(PlanError, match="before it"):  # the 10 January deal keeps its terms
        plan_version_create(plan=rebate, effective_from=dt.date(2026, 1, 8))
    v2 = plan_version_create(plan=rebate, effective_from=dt.date(2026, 1, 15))
    v2.lot_rates.filter(group=fx).update(
        rate=D(6)
    )  # a version that has not accrued may still be set up
    pipeline.trade(
        player.ref,
        deal_id="3",
        position_id="p2",
        symbol="EURUSD",
        lots="3",
        entry="in",
        closed_at=dt.datetime(2026, 1, 19, 9, tzinfo=UTC),
    )
    pipeline.trade(
        player.ref,
        deal_id="4",
        position_id="p2",
        symbol="EURUSD",
        lots="3",
        entry="out",
        closed_at=dt.datetime(2026, 1, 20, 9, tzinfo=UTC),
    )
    rebates = CommissionEntry.objects.filter(kind="lot_rebate").order_by("occurred_at")
    # 10 January: 3 lots x 5.00 = 15.00 (version 1); 20 January: 3 lots x 6.00 = 18.00 (version 2).
    assert [(e.amount, e.plan_id) for e in rebates] == [(D(15), rebate.pk), (D(18), v2.pk)]
    statements_close(period=JAN)
    statement = Statement.objects.get(affiliate=assignment.affiliate, period=JAN)
    assert statement.total == D("33.00")  # 15.00 + 18.00, one line per version
    assert sorted(statement.lines.values_list("plan_id", "amount")) == sorted(
        [(rebate.pk, D(15)), (v2.pk, D(18))]
    )
    assert AuditLog.objects.filter(action="plan.version_created", object_id=str(v2.pk)).exists()


def test_revshare_version_applies_per_period(pipeline, make_player):
    player, plan = revshare_player(make_player, percent=25)
    revenue(pipeline, player, dt.date(2026, 1, 5), 1000)
    v2 = plan_version_create(
        plan=plan, effective_from=dt.date(2026, 1, 15), changes={"revshare_percent": D(30)}
    )
    revenue(pipeline, player, dt.date(2026, 1, 20), 1000)
    revenue(pipeline, player, dt.date(2026, 2, 5), 1000)
    assert (
        plan_for(
            affiliate_id=player.affiliate_id,
            brand="spinpalace",
            at=dt.datetime(2026, 1, 20, tzinfo=UTC),
        )
        == v2
    )
    assert (
        plan_for_period(
            affiliate_id=player.affiliate_id, brand="spinpalace", day=dt.date(2026, 1, 20)
        )
        == plan
    )
    statements_close(period=JAN)
    statements_close(period=FEB)
    # January at the terms in force on 1 January: 25% x 2,000 = 500.00; February: 30% x 1,000 =
    # 300.00.
    assert lines(player.affiliate, JAN) == {"revshare": D("500.00")}
    assert lines(player.affiliate, FEB) == {"revshare": D("300.00")}
    # A January restatement is priced at January's terms (25%), not today's: +400 -> +100.00.
    revenue(
        pipeline,
        player,
        dt.date(2026, 1, 20),
        1400,
        report_id="R-late",
        sent_at=dt.datetime(2026, 3, 2, tzinfo=UTC),
    )
    adjustment = CommissionEntry.objects.get(kind="adjustment")
    assert (adjustment.amount, adjustment.plan, adjustment.restates_period) == (D(100), plan, JAN)


def test_version_cannot_start_in_a_closed_period(pipeline, make_player):
    _player, plan = revshare_player(make_player)
    statements_close(period=JAN)
    with pytest.raises(PlanError, match="closed"):
        plan_version_create(plan=plan, effective_from=dt.date(2026, 1, 20))


def test_unaccrued_plan_is_edited_in_place_and_audited():
    plan = PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200))
    plan_update(plan=plan, changes={"cpa_amount": D(250)}, acting_user=UserFactory())
    plan.refresh_from_db()
    assert plan.cpa_amount == D(250)
    audit = AuditLog.objects.get(action="plan.updated")
    assert (audit.before["cpa_amount"], audit.after["cpa_amount"]) == (
        "200.00000000",
        "250.00000000",
    )


# --- restatements reach later closed months ------------------------------------------------------


def test_restatement_changes_a_later_months_carryover(pipeline, make_player):
    """Carry plan at 30%: January NGR -2,000, February +5,000 -> February pays 30% x (5,000 -
    2,000) = 900.00. In March the CRM restates 20 January from -2,000 to -1,000: January still
    pays 0 but carries -1,000; February's base becomes 5,000 - 1,000 = 4,000 -> 1,200.00, so
    February is adjusted by +300.00, booked in March with a reference to February."""
    player, _plan = revshare_player(make_player, carryover="carry")
    revenue(pipeline, player, dt.date(2026, 1, 20), -2000)
    revenue(pipeline, player, dt.date(2026, 2, 10), 5000)
    statements_close(period=JAN)
    statements_close(period=FEB)
    assert lines(player.affiliate, FEB) == {"revshare": D("900.00")}
    event = revenue(
        pipeline,
        player,
        dt.date(2026, 1, 20),
        -1000,
        report_id="R-jan-b",
        sent_at=dt.datetime(2026, 3, 3, tzinfo=UTC),
    )
    january = CommissionEntry.objects.get(source_event_id=event, kind="adjustment")
    assert (january.amount, january.restates_period, january.detail["carry_out"]) == (
        D(0),
        JAN,
        "-1000.00000000",
    )
    february = CommissionEntry.objects.get(kind="adjustment", restates_period=FEB)
    assert (february.amount, february.period, february.detail["carried_from"]) == (
        D(300),
        MAR,
        "2026-01",
    )
    assert february.detail["carry_in_before"] == "-2000.00000000"
    # February's (immutable) statement shows what it was adjusted by.
    assert list(
        statement_adjustments(Statement.objects.get(affiliate=player.affiliate, period=FEB))
    ) == [february]
    # The same event again books nothing new.
    revenue(
        pipeline,
        player,
        dt.date(2026, 1, 20),
        -1000,
        report_id="R-jan-b",
        sent_at=dt.datetime(2026, 3, 3, tzinfo=UTC),
    )
    assert CommissionEntry.objects.filter(kind="adjustment").count() == 2
    statements_close(period=MAR)
    march = Statement.objects.get(affiliate=player.affiliate, period=MAR)
    adjusted_by = {
        line.restates_period: line.amount for line in march.lines.filter(kind="adjustment")
    }
    assert adjusted_by == {JAN: D("0.00"), FEB: D("300.00")}
    # Ledger: 900 + 300 = 1,200 = 30% x (5,000 - 1,000), February at its current figures.
    assert CommissionEntry.objects.filter(status="approved").aggregate(s=Sum("amount"))["s"] == D(
        1200
    )


def test_restated_carry_is_where_the_next_close_starts(pipeline, make_player):
    """January -2,000 (carried), closed; restated to -500 in February before February closes:
    February's close starts from -500. February NGR 1,000 -> 30% x 500 = 150.00."""
    player, _ = revshare_player(make_player, carryover="carry")
    revenue(pipeline, player, dt.date(2026, 1, 20), -2000)
    statements_close(period=JAN)
    revenue(
        pipeline,
        player,
        dt.date(2026, 1, 20),
        -500,
        report_id="R-b",
        sent_at=dt.datetime(2026, 2, 2, tzinfo=UTC),
    )
    revenue(pipeline, player, dt.date(2026, 2, 10), 1000)
    statements_close(period=FEB)
    summary = Statement.objects.get(affiliate=player.affiliate, period=FEB).revshare_summaries.get()
    assert (summary.carry_in, summary.commission) == (D(-500), D(150))


# --- one currency rule for CPA ------------------------------------------------------------------


def cpa_eur_plan(make_player, **plan):
    plan = PlanFactory(
        kind=Plan.Kind.CPA, currency="EUR", cpa_amount=D(200), cpa_min_ftd=D(100), **plan
    )
    return make_player(PlanAssignmentFactory(plan=plan).affiliate), plan


def test_gbp_deposit_against_a_eur_cpa_threshold(pipeline, make_player, admin_client):
    """EUR plan, minimum FTD 100.00 EUR. GBP->EUR 1.1700 published on 9 January: an FTD of
    90.00 GBP counts as 90.00 x 1.17 = 105.30 EUR >= 100.00 -> the CPA qualifies. 80.00 GBP
    would be 93.60 EUR, under the minimum."""
    from django.urls import reverse

    from tests.payouts.factories import FxRateFactory

    FxRateFactory(
        base="GBP", quote="EUR", rate=D("1.1700"), as_of=dt.datetime(2026, 1, 9, 16, tzinfo=UTC)
    )
    FxRateFactory(
        base="GBP", quote="EUR", rate=D("1.2500"), as_of=dt.datetime(2026, 1, 20, 16, tzinfo=UTC)
    )
    player, _ = cpa_eur_plan(make_player)
    short, _ = cpa_eur_plan(make_player)
    at = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
    for someone, amount in ((player, "90.00"), (short, "80.00")):
        pipeline.kyc(someone.ref, "passed", at)
        pipeline.deposit(someone.ref, amount, at, currency="GBP")
    cpa = CommissionEntry.objects.get(kind="cpa")
    assert (cpa.player, cpa.status, cpa.amount, cpa.currency) == (player, "pending", D(200), "EUR")
    assert cpa.detail["ftd_amount"] == "105.30000000"  # the 9 January rate, not the later 1.25
    assert (D(cpa.detail["fx"][0]["rate"]), cpa.detail["fx"][0]["base"]) == (D("1.17"), "GBP")
    assert not CommissionEntry.objects.filter(player=short).exists()  # 93.60 EUR: below the minimum
    page = admin_client.get(reverse("admin:players_player_change", args=[player.pk]))
    assert b"pending: 200 EUR" in page.content


def test_deposit_with_no_rate_does_not_count_and_says_why(pipeline, make_player, admin_client):
    from django.urls import reverse

    player, _ = cpa_eur_plan(make_player)
    at = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
    pipeline.kyc(player.ref, "passed", at)
    pipeline.deposit(player.ref, "500.00", at, currency="CHF")  # no CHF->EUR rate at all
    cpa = CommissionEntry.objects.get(kind="cpa", player=player)
    assert cpa.status == "failed"
    assert cpa.status_reason == (
        "Does not qualify: FTD does not count: no CHF->EUR rate in the FX table for "
        "2026-01-10 (deposit 500.00 CHF)"
    )
    page = admin_client.get(reverse("admin:players_player_change", args=[player.pk]))
    assert b"no CHF-&gt;EUR rate in the FX table" in page.content
    statements_close(period=JAN)
    assert not Statement.objects.filter(affiliate=player.affiliate).exists()  # nothing earned


def test_24h_sum_counts_converted_deposits_and_skips_the_unconvertible(pipeline, make_player):
    """Sum of the first 24 h: 60.00 EUR + 50.00 GBP x 1.17 (= 58.50 EUR) = 118.50 >= 100; a CHF
    deposit in between has no rate and does not count."""
    from tests.payouts.factories import FxRateFactory

    FxRateFactory(
        base="GBP", quote="EUR", rate=D("1.1700"), as_of=dt.datetime(2026, 1, 9, 16, tzinfo=UTC)
    )
    player, _ = cpa_eur_plan(make_player, cpa_ftd_sum_24h=True)
    at = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
    pipeline.kyc(player.ref, "passed", at)
    pipeline.deposit(player.ref, "60.00", at)
    pipeline.deposit(player.ref, "70.00", at + dt.timedelta(hours=1), currency="CHF")
    assert not CommissionEntry.objects.exists()
    pipeline.deposit(player.ref, "50.00", at + dt.timedelta(hours=2), currency="GBP")
    cpa = CommissionEntry.objects.get(kind="cpa")
    assert (cpa.status, cpa.detail["ftd_amount"]) == ("pending", "118.50000000")


# --- CPA tiers count only approved CPAs ---------------------------------------------------------


def test_cpa_tiers_count_only_the_approved_cpas(pipeline, make_player):
    """Tiers: 0-2 CPAs at 50%, 3+ at 100% of 200. Three CPAs qualify in January; the third
    player self-excludes before approval, which fails that CPA. Two are approved at the close ->
    the 50% band: 2 x 200 x 50% = 200.00 due, 400.00 booked, a tier adjustment of -200.00."""
    from tests.commissions.factories import PlanTierFactory

    plan = PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200), cpa_min_ftd=D(20), cpa_hold_days=0)
    PlanTierFactory(plan=plan, applies_to="cpa", threshold=D(0), percent=D(50))
    PlanTierFactory(plan=plan, applies_to="cpa", threshold=D(3), percent=D(100))
    assignment = PlanAssignmentFactory(plan=plan)
    at = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
    players = [make_player(assignment.affiliate) for _ in range(3)]
    for player in players:
        pipeline.kyc(player.ref, "passed", at)
        pipeline.deposit(player.ref, "50", at)
    self_exclude(pipeline, players[2], at + dt.timedelta(days=1))  # fails the pending CPA
    statements_close(period=JAN)
    assert lines(assignment.affiliate, JAN) == {"cpa": D("400.00"), "tier_adjustment": D("-200.00")}


def test_cpa_in_its_hold_does_not_count_toward_the_tier(pipeline, make_player):
    """Three CPAs qualify on 20 January with a 20-day hold, so none is approved at the January
    close and none counts toward January's tier (counting them would have reached the 100% band
    for all three). On 1 February one of the players self-excludes: that CPA fails in its hold.
    At the February close two are approved: the 50% band, 2 x 200 x 50% = 200.00 due, 400.00
    booked, a tier adjustment of -200.00."""
    from tests.commissions.factories import PlanTierFactory

    plan = PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200), cpa_min_ftd=D(20), cpa_hold_days=20)
    PlanTierFactory(plan=plan, applies_to="cpa", threshold=D(0), percent=D(50))
    PlanTierFactory(plan=plan, applies_to="cpa", threshold=D(3), percent=D(100))
    assignment = PlanAssignmentFactory(plan=plan)
    at = dt.datetime(2026, 1, 20, 12, tzinfo=UTC)
    players = [make_player(assignment.affiliate) for _ in range(3)]
    for player in players:
        pipeline.kyc(player.ref, "passed", at)
        pipeline.deposit(player.ref, "50", at)
    statements_close(period=JAN)
    assert not CommissionEntry.objects.filter(kind="tier_adjustment").exists()
    self_exclude(pipeline, players[2], dt.datetime(2026, 2, 1, 8, tzinfo=UTC))
    statements_close(period=FEB)
    assert lines(assignment.affiliate, FEB) == {"cpa": D("400.00"), "tier_adjustment": D("-200.00")}


def test_the_database_refuses_to_edit_an_accrued_plan_in_place(pipeline, make_player):
    from django.db import IntegrityError, transaction

    from tests.commissions.factories import PlanTierFactory

    player, plan = revshare_player(make_player)
    revenue(pipeline, player, dt.date(2026, 1, 5), 1000)
    statements_close(period=JAN)  # the RevShare line is priced with the plan
    with pytest.raises(IntegrityError, match="never edited in place"), transaction.atomic():
        Plan.objects.filter(pk=plan.pk).update(revshare_percent=D(40))
    with pytest.raises(IntegrityError, match="never edited in place"), transaction.atomic():
        PlanTierFactory(plan=plan, threshold=D(1000), percent=D(35))
    Plan.objects.filter(pk=plan.pk).update(name="Gold RevShare (renamed)")  # a name is not a term
