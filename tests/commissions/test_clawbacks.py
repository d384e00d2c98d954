"""Chargebacks open a clawback case; Finance approves (books) or dismisses (books nothing)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Sum

from apps.commissions.models import ClawbackCase, CommissionEntry, Plan
from apps.commissions.services import (
    ClawbackError,
    clawback_case_approve,
    clawback_case_dismiss,
    statements_close,
)
from apps.core.models import AuditLog
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.factories import AffiliateFactory, UserFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC
T = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
D = Decimal


def chargeback(pipeline, player, amount, at, cb_id="CB-1"):
    return pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": cb_id, "player_id": player.ref, "amount": amount, "currency": "EUR"},
        at=at,
    )


@pytest.fixture
def cpa_player(pipeline, make_player):
    parent = AffiliateFactory()
    sub = AffiliateFactory(parent=parent)
    PlanAssignmentFactory(
        affiliate=sub,
        plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200), clawback_window_days=90),
    )
    PlanAssignmentFactory(
        affiliate=parent, plan=PlanFactory(kind=Plan.Kind.CPA, override_percent=D(5))
    )
    player = make_player(sub)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "100", T)
    statements_close(period=dt.date(2026, 1, 1))  # the CPA and the override are approved
    return player


def test_chargeback_inside_window_proposes_cpa_and_override_clawback(pipeline, cpa_player):
    chargeback(pipeline, cpa_player, "100", T + dt.timedelta(days=30))
    case = ClawbackCase.objects.get()
    assert case.status == "open"
    assert sorted((p.kind, p.amount) for p in case.proposals.all()) == [
        ("cpa", D(-200)),
        ("override", D(-10)),
    ]
    assert not CommissionEntry.objects.filter(
        kind="clawback"
    ).exists()  # nothing booked before review
    # A redelivery opens nothing new.
    chargeback(pipeline, cpa_player, "100", T + dt.timedelta(days=30), cb_id="CB-1")
    assert ClawbackCase.objects.count() == 1


def test_chargeback_outside_window_proposes_no_cpa_clawback(pipeline, cpa_player):
    chargeback(pipeline, cpa_player, "100", T + dt.timedelta(days=91))
    assert not ClawbackCase.objects.get().proposals.exists()


def test_approve_books_negative_lines_in_the_current_period_referencing_originals(
    pipeline, cpa_player
):
    chargeback(pipeline, cpa_player, "100", T + dt.timedelta(days=30))
    case = ClawbackCase.objects.get()
    finance = UserFactory()
    with pytest.raises(ClawbackError):
        clawback_case_approve(case=case, reason="  ", acting_user=finance)
    clawback_case_approve(case=case, reason="Confirmed fraud", acting_user=finance)
    lines = CommissionEntry.objects.filter(kind="clawback")
    assert sorted(lines.values_list("amount", flat=True)) == [D(-200), D(-10)]
    assert {line.reverses.kind for line in lines} == {"cpa", "override"}
    assert {line.status for line in lines} == {"approved"}
    assert lines.first().period > dt.date(2026, 1, 1)  # January is closed: booked in an open period
    sub = cpa_player.affiliate
    assert (
        CommissionEntry.objects.filter(affiliate=sub, status="approved").aggregate(s=Sum("amount"))[
            "s"
        ]
        == 0
    )
    audit = AuditLog.objects.get(action="clawback_case.approved")
    assert (audit.actor, audit.reason) == (finance, "Confirmed fraud")
    with pytest.raises(ClawbackError):
        clawback_case_dismiss(case=case, reason="again", acting_user=finance)


def test_dismiss_books_nothing_and_is_audited(pipeline, cpa_player):
    chargeback(pipeline, cpa_player, "100", T + dt.timedelta(days=30))
    case = clawback_case_dismiss(
        case=ClawbackCase.objects.get(),
        reason="Friendly fraud, recovered",
        acting_user=UserFactory(),
    )
    assert case.status == "dismissed"
    assert not CommissionEntry.objects.filter(kind="clawback").exists()
    assert AuditLog.objects.filter(
        action="clawback_case.dismissed", reason="Friendly fraud, recovered"
    ).exists()


def test_revshare_chargeback_is_an_ngr_deduction(pipeline, make_player):
    """The worked NGR example's 300 chargeback: 300 x (1 - 10% fee) x 30% = 81 off the RevShare."""
    plan = PlanFactory(kind=Plan.Kind.REVSHARE, revshare_percent=D(30), admin_fee_percent=D(10))
    assignment = PlanAssignmentFactory(plan=plan)
    player = make_player(assignment.affiliate)
    pipeline.send(
        "crm",
        "revenue.reported",
        {
            "report_id": "R1",
            "player_id": player.ref,
            "date": dt.date(2026, 1, 20),
            "currency": "EUR",
            "stakes": "100000",
            "winnings": "92000",
            "bonuses": "1500",
            "jackpot_contributions": "200",
            "taxes": "1200",
            "payment_fees": "500",
        },
        at=T,
    )
    statements_close(period=dt.date(2026, 1, 1))
    chargeback(pipeline, player, "300", T + dt.timedelta(days=3))
    case = ClawbackCase.objects.get()
    assert [(p.kind, p.amount) for p in case.proposals.all()] == [("revshare", D(-81))]
    clawback_case_approve(case=case, reason="Chargeback confirmed", acting_user=UserFactory())
    total = CommissionEntry.objects.filter(
        affiliate=assignment.affiliate, status="approved"
    ).aggregate(s=Sum("amount"))
    assert total["s"] == D("1161.00")  # 4,140 x 30% = 1,242 - 81


def test_pending_cpa_is_failed_not_offset(pipeline, make_player):
    assignment = PlanAssignmentFactory(
        plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200), cpa_hold_days=60)
    )
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "100", T)
    chargeback(pipeline, player, "100", T + dt.timedelta(days=2))
    clawback_case_approve(
        case=ClawbackCase.objects.get(), reason="fraud", acting_user=UserFactory()
    )
    cpa = CommissionEntry.objects.get(kind="cpa")
    assert cpa.status == "failed"
    assert not CommissionEntry.objects.filter(kind="clawback").exists()


def test_one_case_per_chargeback_id_repeats_add_to_its_history(pipeline, cpa_player):
    at = T + dt.timedelta(days=30)
    chargeback(pipeline, cpa_player, "100", at, cb_id="CB-7")
    # The gateway sends the same chargeback again, twice (new webhooks, a day apart).
    chargeback(pipeline, cpa_player, "100", at + dt.timedelta(hours=2), cb_id="CB-7")
    chargeback(pipeline, cpa_player, "100", at + dt.timedelta(days=1), cb_id="CB-7")
    case = ClawbackCase.objects.get()
    assert case.chargeback_id == "CB-7"
    assert list(case.history.values_list("kind", flat=True)) == ["opened", "repeated", "repeated"]
    assert case.proposals.filter(kind="cpa").count() == 1  # proposed once
    assert (
        AuditLog.objects.filter(action="clawback_case.repeated", object_id=str(case.pk)).count()
        == 2
    )


def test_the_database_refuses_a_second_case_for_a_chargeback_id(pipeline, cpa_player):
    from django.db import IntegrityError, transaction

    chargeback(pipeline, cpa_player, "100", T + dt.timedelta(days=30), cb_id="CB-8")
    case = ClawbackCase.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        ClawbackCase.objects.create(
            player=cpa_player,
            chargeback_id="CB-8",
            chargeback_event_id=case.chargeback_event_id + 1000,
            chargeback_amount=D(1),
            currency="EUR",
            chargeback_at=T,
        )
