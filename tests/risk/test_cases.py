"""Signals grouping into cases, the holds a case places (respected by the period close and the
payout run), and each decision's effect on the ledger, with its audit rows (issue 17 §2-§3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings

from apps.affiliates.models import Affiliate
from apps.affiliates.postbacks import PostbackTemplate
from apps.commissions.models import CommissionEntry, CommissionHold, Statement
from apps.commissions.services import commission_lines_hold, statements_close
from apps.core.models import AuditLog
from apps.payouts import services as payouts
from apps.payouts.models import PayoutRunLine
from apps.risk import services
from apps.risk.models import RiskCase, RiskDecision, RiskSignal
from tests.factories import AffiliateFactory, UserFactory
from tests.payouts.factories import PayoutMethodFactory, approved_statement

from .conftest import AT, ring_deposit, rule

pytestmark = pytest.mark.django_db
D = Decimal
JAN = dt.date(2026, 1, 1)


def cpa_lines(affiliate):
    return CommissionEntry.objects.filter(affiliate=affiliate, kind="cpa")


def test_a_ring_opens_one_case_with_every_player_and_holds_their_cpas(ring, cpa_affiliate):
    case = RiskCase.objects.get()
    assert case.affiliate == cpa_affiliate and case.status == "open"
    assert set(case.players.values_list("pk", flat=True)) == {p.pk for p in ring}
    assert case.signals.filter(rule__code="duplicate_identity").count() == 2  # 2nd and 3rd joiner
    assert case.score == 40  # one rule, counted once
    held = CommissionHold.objects.filter(reference=case.reference, released_at__isnull=True)
    # The first player's CPA (booked before the ring was seen) is held too.
    assert set(held.values_list("entry__player_id", flat=True)) == {p.pk for p in ring}
    assert sum(h.entry.amount for h in held) == D("600")
    assert {h.label for h in held} == {f"risk case {case.pk}"}
    assert AuditLog.objects.filter(action="risk_case.opened", object_id=str(case.pk)).count() == 1
    assert AuditLog.objects.filter(action="commission_entry.held").count() == 3


def test_a_redelivered_event_raises_nothing_new(pipeline, ring):
    signals = RiskSignal.objects.count()
    ring_deposit(pipeline, ring[2], minutes=2)  # same deposit id: a duplicate delivery
    assert RiskSignal.objects.count() == signals


def test_signals_of_other_rules_about_the_same_affiliate_join_its_live_case(
    ring, cpa_affiliate, make_player, pipeline
):
    case = RiskCase.objects.get()
    newcomer = make_player(cpa_affiliate)
    pipeline.send(
        "payments",
        "deposit.created",
        {
            "deposit_id": "solo",
            "player_id": newcomer.ref,
            "amount": "50",
            "currency": "EUR",
            "payment_fingerprint": "fp-shared-elsewhere",
        },
        at=AT,
    )
    other_affiliate_player = make_player(AffiliateFactory())
    pipeline.send(
        "payments",
        "deposit.created",
        {
            "deposit_id": "solo-2",
            "player_id": other_affiliate_player.ref,
            "amount": "50",
            "currency": "EUR",
            "payment_fingerprint": "fp-shared-elsewhere",
        },
        at=AT,
    )
    # One case per affiliate: the ring's affiliate's case gains the newcomer, the other
    # affiliate gets a case of its own.
    assert RiskCase.objects.count() == 2
    case.refresh_from_db()
    assert newcomer in case.players.all()
    assert case.score == 40  # still the one rule
    other = RiskCase.objects.exclude(pk=case.pk).get()
    assert list(other.players.all()) == [other_affiliate_player]


def test_a_case_above_the_score_limit_holds_the_affiliates_payouts(
    make_player, pipeline, cpa_affiliate
):
    rule("duplicate_identity", score=70)
    players = [make_player(cpa_affiliate) for _ in range(2)]
    for i, p in enumerate(players):
        ring_deposit(pipeline, p, minutes=i)
    case = RiskCase.objects.get()
    assert case.score == 70 and case.payout_hold is not None
    assert case.payout_hold.released_at is None and "risk case" in case.payout_hold.reason


def test_with_event_rules_off_nothing_is_evaluated(make_player, pipeline, cpa_affiliate):
    with override_settings(AFFILIATEHUB_RISK_EVENT_RULES=False):
        for i, p in enumerate([make_player(cpa_affiliate) for _ in range(3)]):
            ring_deposit(pipeline, p, minutes=i)
    assert RiskCase.objects.count() == 0
    assert CommissionHold.objects.count() == 0


def test_disabled_rule_raises_nothing(make_player, pipeline, cpa_affiliate):
    rule("duplicate_identity", enabled=False)
    for i, p in enumerate([make_player(cpa_affiliate) for _ in range(3)]):
        ring_deposit(pipeline, p, minutes=i)
    assert RiskCase.objects.count() == 0


# --- the close and the payout run ------------------------------------------------------------


def test_the_close_leaves_held_lines_pending_and_approves_them_after_release(
    ring, cpa_affiliate, make_player, pipeline
):
    honest = make_player(cpa_affiliate)
    pipeline.deposit(honest.ref, "50", AT)  # no shared value: not held
    statements_close(period=JAN)
    lines = cpa_lines(cpa_affiliate)
    assert set(lines.filter(status="pending").values_list("player_id", flat=True)) == {
        p.pk for p in ring
    }
    assert lines.get(player=honest).status == "approved"
    statement = Statement.objects.get(affiliate=cpa_affiliate, period=JAN)
    assert statement.total == D("200.00")  # the honest CPA only

    case = RiskCase.objects.get()
    services.risk_case_clear(
        case=case, acting_user=UserFactory(roles=["Compliance"]), reason="Family sharing a tablet"
    )
    statements_close(period=dt.date(2026, 2, 1))
    assert set(lines.filter(status="approved").values_list("player_id", flat=True)) == {
        honest.pk,
        *[p.pk for p in ring],
    }
    assert Statement.objects.get(affiliate=cpa_affiliate, period=dt.date(2026, 2, 1)).total == D(
        "600.00"
    )


def test_a_held_line_never_reaches_a_payout_while_other_affiliates_are_paid():
    held_affiliate, paid_affiliate = AffiliateFactory(), AffiliateFactory()
    for affiliate in (held_affiliate, paid_affiliate):
        PayoutMethodFactory(affiliate=affiliate)
    held_statement = approved_statement(affiliate=held_affiliate, total="300.00")
    approved_statement(affiliate=paid_affiliate, total="300.00")
    line = CommissionEntry.objects.filter(affiliate=held_affiliate).first()
    commission_lines_hold(entries=[line], reference="risk_case:999", label="risk case 999")

    run = payouts.payout_run_create()
    outcomes = {(rl.affiliate_id, rl.outcome): rl for rl in run.lines.all()}
    assert set(outcomes) == {(held_affiliate.pk, "held"), (paid_affiliate.pk, "payout")}
    assert "risk case 999" in outcomes[(held_affiliate.pk, "held")].note
    assert not held_statement.payout_allocations.exists()
    assert run.payouts.get().affiliate == paid_affiliate

    # Released: the next run pays it.
    from apps.commissions.services import commission_holds_release

    commission_holds_release(reference="risk_case:999", reason="cleared")
    again = payouts.payout_run_create()
    assert again.lines.get().outcome == PayoutRunLine.Outcome.PAYOUT
    assert held_statement.payout_allocations.count() == 1


# --- decisions -------------------------------------------------------------------------------


def test_clear_releases_every_hold_and_is_audited_with_before_and_after(ring):
    case = RiskCase.objects.get()
    rule("duplicate_identity")  # unchanged; the case's payout hold is placed by hand below
    case.payout_hold = payouts.payout_hold_place(
        affiliate=case.affiliate, reason="Held: risk case", actor_label="test"
    )
    case.save(update_fields=["payout_hold"])
    user = UserFactory(roles=["Finance"])
    services.risk_case_clear(case=case, acting_user=user, reason="Known household")
    case.refresh_from_db()
    assert case.status == "cleared" and case.decided_by == user
    assert not CommissionHold.objects.filter(reference=case.reference, released_at__isnull=True)
    assert case.payout_hold.released_at is not None
    decision = RiskDecision.objects.get(case=case)
    assert decision.action == "clear" and decision.effects["released_lines"] == 3
    audit = AuditLog.objects.get(action="risk_case.cleared")
    assert audit.before["status"] == "open" and audit.after["status"] == "cleared"
    assert audit.reason == "Known household" and audit.actor == user


def test_confirm_reverses_the_held_lines_to_the_cent(ring, cpa_affiliate, make_player, pipeline):
    case = RiskCase.objects.get()
    # One held line already approved (a close ran before the case): it is clawed back; the
    # pending ones fail. Odd cents prove the sum is exact.
    approved = cpa_lines(cpa_affiliate).filter(player=ring[0]).get()
    CommissionHold.objects.filter(entry=approved).delete()
    CommissionEntry.objects.filter(pk=approved.pk).update(
        status="approved", statement_period=JAN, status_changed_at=AT
    )
    commission_lines_hold(entries=[approved], reference=case.reference, label=case.label)
    held_total = sum(
        h.entry.amount
        for h in CommissionHold.objects.filter(reference=case.reference, released_at__isnull=True)
    )
    template = PostbackTemplate.objects.create(
        affiliate=cpa_affiliate, event="registration", url_template="https://t.example/{token}"
    )
    user = UserFactory(roles=["Compliance"])
    services.risk_case_confirm(
        case=case,
        acting_user=user,
        reason="Ring confirmed",
        suspend_affiliate=True,
        suppress_postbacks=True,
    )
    lines = cpa_lines(cpa_affiliate)
    failed = lines.filter(status="failed")
    clawbacks = CommissionEntry.objects.filter(kind="clawback", affiliate=cpa_affiliate)
    assert set(failed.values_list("player_id", flat=True)) == {ring[1].pk, ring[2].pk}
    assert [c.reverses_id for c in clawbacks] == [approved.pk]
    reversed_total = sum(e.amount for e in failed) - sum(c.amount for c in clawbacks)
    assert reversed_total == held_total == D("600.00000000")
    decision = RiskDecision.objects.get(case=case)
    assert decision.effects["reversed"] == {"EUR": "600.00000000"}
    cpa_affiliate.refresh_from_db()
    template.refresh_from_db()
    assert cpa_affiliate.status == Affiliate.Status.SUSPENDED and not template.is_active
    assert AuditLog.objects.filter(action="risk_case.confirmed", actor=user).count() == 1
    assert AuditLog.objects.filter(action="commission_entry.failed").count() == 2


def test_escalate_keeps_the_case_live_and_its_holds(ring):
    case = RiskCase.objects.get()
    user = UserFactory(roles=["Finance"])
    services.risk_case_escalate(case=case, acting_user=user, reason="Needs the MLRO")
    case.refresh_from_db()
    assert case.status == "escalated" and case.is_live
    assert (
        CommissionHold.objects.filter(reference=case.reference, released_at__isnull=True).count()
        == 3
    )
    with pytest.raises(services.RiskError, match="already escalated"):
        services.risk_case_escalate(case=case, acting_user=user, reason="again")


def test_decisions_need_the_permission_and_a_reason_and_a_live_case(ring):
    case = RiskCase.objects.get()
    with pytest.raises(services.RiskError, match="permission"):
        services.risk_case_clear(
            case=case, acting_user=UserFactory(roles=["Retention"]), reason="x"
        )
    with pytest.raises(services.RiskError, match="reason"):
        services.risk_case_clear(case=case, acting_user=UserFactory(roles=["Finance"]), reason=" ")
    services.risk_case_clear(case=case, acting_user=UserFactory(roles=["Finance"]), reason="ok")
    with pytest.raises(services.RiskError, match="already cleared"):
        services.risk_case_confirm(
            case=case, acting_user=UserFactory(roles=["Finance"]), reason="x"
        )


def test_a_new_signal_after_a_decision_opens_a_new_case(ring, make_player, pipeline, cpa_affiliate):
    first = RiskCase.objects.get()
    services.risk_case_clear(case=first, acting_user=UserFactory(roles=["Finance"]), reason="ok")
    ring_deposit(pipeline, make_player(cpa_affiliate), minutes=9)
    second = RiskCase.objects.exclude(pk=first.pk).get()
    assert second.status == "open" and second.players.count() == 4


def test_cpa_farming_nightly_joins_the_case_and_confirmed_cases_label_the_rule(ring, cpa_affiliate):
    services.rules_evaluate_nightly(now=AT + dt.timedelta(days=8))
    case = RiskCase.objects.get()
    assert case.signals.filter(rule__code="cpa_farming").count() == 1
    assert case.score == 90  # 40 + 50
    assert services.rules_evaluate_nightly(now=AT + dt.timedelta(days=9)) == []  # nothing new
    services.risk_case_confirm(case=case, acting_user=UserFactory(roles=["Finance"]), reason="ring")
    from apps.risk.models import RiskRule
    from apps.risk.selectors import rule_statistics

    stats = rule_statistics()
    farming = stats[RiskRule.objects.get(code="cpa_farming").pk]
    assert (farming["decided"], farming["confirmed"], farming["precision"]) == (1, 1, D(1))
    velocity = stats[RiskRule.objects.get(code="velocity").pk]
    assert velocity["precision"] is None
