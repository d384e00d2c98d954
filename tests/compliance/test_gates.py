"""The accrual gate, alone and through the accruals that use it (DOMAIN.md "Compliance gates")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.affiliates.models import Affiliate
from apps.commissions.models import CommissionEntry, InstrumentGroup, Plan
from apps.compliance.gates import GatePurpose, accrual_gate
from apps.compliance.models import ExclusionOverride
from apps.compliance.services import exclusion_override_create, exclusion_override_revoke
from apps.core.models import AuditLog
from apps.players.models import Player
from tests.commissions.factories import LotRateFactory, PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import Pipeline, player_maker
from tests.factories import (
    AffiliateFactory,
    BrandLicenceFactory,
    ClickFactory,
    IdentifierMappingFactory,
    KycRecordFactory,
    PlayerFactory,
    SelfExclusionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
UTC = dt.UTC
T = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
D = Decimal


@pytest.fixture
def pipeline(db):
    return Pipeline()


@pytest.fixture
def make_player(db):
    return player_maker()


@pytest.fixture
def affiliate():
    return AffiliateFactory()


@pytest.fixture
def player(affiliate):
    BrandLicenceFactory(brand="spinpalace", country__code="DE")
    return PlayerFactory(
        affiliate=affiliate, attribution_status="attributed", attribution_note="click"
    )


# --- the gate on its own ----------------------------------------------------------------------


def test_allows_a_licensed_active_unexcluded_player(player, affiliate):
    KycRecordFactory(player=player, status="passed")
    assert accrual_gate(player=player, affiliate=affiliate, at=T, purpose=GatePurpose.CPA).allowed


def test_self_exclusion_blocks_from_its_start_not_before(player, affiliate):
    SelfExclusionFactory(player=player, starts_at=T)
    before = accrual_gate(
        player=player, affiliate=affiliate, at=T - dt.timedelta(seconds=1), purpose="lot_rebate"
    )
    at_start = accrual_gate(player=player, affiliate=affiliate, at=T, purpose="lot_rebate")
    assert before.allowed
    assert not at_start.allowed and at_start.code == "self_excluded"


def test_kyc_only_matters_for_cpa(player, affiliate):
    assert accrual_gate(player=player, affiliate=affiliate, at=T, purpose="lot_rebate").allowed
    result = accrual_gate(player=player, affiliate=affiliate, at=T, purpose="cpa")
    assert (result.allowed, result.code) == (False, "kyc_not_passed")
    assert accrual_gate(
        player=player, affiliate=affiliate, at=T, purpose="cpa", kyc_required=False
    ).allowed


def test_unlicensed_country_is_blocked(affiliate):
    player = PlayerFactory(
        affiliate=affiliate, attribution_status="attributed", attribution_note="x", country="US"
    )
    result = accrual_gate(player=player, affiliate=affiliate, at=T, purpose="revshare")
    assert (result.allowed, result.code) == (False, "not_licensed")


def test_suspended_affiliate_is_blocked(player):
    suspended = AffiliateFactory(status=Affiliate.Status.SUSPENDED)
    result = accrual_gate(player=player, affiliate=suspended, at=T, purpose="lot_rebate")
    assert (result.allowed, result.code) == (False, "affiliate_suspended")


def test_override_lifts_exclusion_until_it_expires_and_each_use_is_audited(player, affiliate):
    SelfExclusionFactory(player=player, starts_at=T - dt.timedelta(days=1))
    officer = UserFactory()
    override = exclusion_override_create(
        player=player,
        kind=ExclusionOverride.Kind.EXCLUSION,
        reason="Exclusion entered on the wrong account",
        starts_at=T - dt.timedelta(days=1),
        expires_at=T + dt.timedelta(days=1),
        acting_user=officer,
    )
    assert AuditLog.objects.filter(
        action="exclusion_override.created", object_id=str(override.pk), actor=officer
    ).exists()
    result = accrual_gate(player=player, affiliate=affiliate, at=T, purpose="lot_rebate")
    assert result.allowed and result.override_id == override.pk
    assert (
        AuditLog.objects.filter(
            action="exclusion_override.used", object_id=str(override.pk)
        ).count()
        == 1
    )
    after_expiry = accrual_gate(
        player=player, affiliate=affiliate, at=T + dt.timedelta(days=2), purpose="lot_rebate"
    )
    assert not after_expiry.allowed


def test_revoked_override_no_longer_applies(player, affiliate):
    SelfExclusionFactory(player=player, starts_at=T - dt.timedelta(days=1))
    officer = UserFactory()
    override = exclusion_override_create(
        player=player,
        kind="exclusion",
        reason="check",
        starts_at=T - dt.timedelta(days=5),
        expires_at=T + dt.timedelta(days=30),
        acting_user=officer,
    )
    exclusion_override_revoke(override=override, reason="Confirmed genuine", acting_user=officer)
    assert not accrual_gate(
        player=player,
        affiliate=affiliate,
        at=dt.datetime.now(UTC) + dt.timedelta(days=1),
        purpose="lot_rebate",
    ).allowed


def test_geo_override_does_not_lift_an_exclusion(affiliate):
    player = PlayerFactory(
        affiliate=affiliate, attribution_status="attributed", attribution_note="x", country="US"
    )
    SelfExclusionFactory(player=player, starts_at=T - dt.timedelta(days=1))
    exclusion_override_create(
        player=player,
        kind="geo",
        reason="Licence granted retroactively",
        starts_at=T - dt.timedelta(days=1),
        expires_at=T + dt.timedelta(days=1),
        acting_user=UserFactory(),
    )
    result = accrual_gate(player=player, affiliate=affiliate, at=T, purpose="lot_rebate")
    assert (result.allowed, result.code) == (False, "self_excluded")


# --- through the accruals ---------------------------------------------------------------------


def _cpa_plan(affiliate=None, **kwargs):
    return PlanAssignmentFactory(
        plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200), **kwargs),
        **({"affiliate": affiliate} if affiliate else {}),
    )


def _rebate_plan(affiliate=None):
    plan = PlanFactory(kind=Plan.Kind.LOT_REBATE, currency="USD")
    LotRateFactory(plan=plan, group=InstrumentGroup.objects.get(code="fx_major"), rate=D(5))
    return PlanAssignmentFactory(plan=plan, **({"affiliate": affiliate} if affiliate else {}))


def _round_trip(pipeline, player, n, at):
    pipeline.trade(
        player.ref,
        deal_id=f"i{n}",
        position_id=f"p{n}",
        symbol="EURUSD",
        lots="1",
        entry="in",
        closed_at=at - dt.timedelta(minutes=30),
    )
    pipeline.trade(
        player.ref,
        deal_id=f"o{n}",
        position_id=f"p{n}",
        symbol="EURUSD",
        lots="1",
        entry="out",
        closed_at=at,
    )


def test_no_accrual_for_a_self_excluded_player_from_the_exclusion_time(pipeline, make_player):
    assignment = _rebate_plan()
    player = make_player(assignment.affiliate)
    pipeline.send(
        "compliance", "self_exclusion.started", {"player_id": player.ref, "starts_at": T}, at=T
    )
    _round_trip(pipeline, player, 1, T - dt.timedelta(hours=1))  # before: paid
    _round_trip(pipeline, player, 2, T + dt.timedelta(hours=1))  # after: suppressed with its reason
    lines = {
        line.detail["deal"].rsplit("/", 1)[1]: line
        for line in CommissionEntry.objects.filter(kind="lot_rebate")
    }
    assert lines["o1"].status == "approved"
    assert lines["o2"].status == "suppressed"
    assert lines["o2"].status_reason.startswith("Player self-excluded")
    assert lines["o2"].amount == D(5)  # the amount is kept for reporting, never paid


def test_self_exclusion_fails_the_unapproved_cpa(pipeline, make_player):
    assignment = _cpa_plan(cpa_hold_days=21)
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "50", T)
    cpa = CommissionEntry.objects.get(kind="cpa")
    assert cpa.status == "pending"
    pipeline.send(
        "compliance",
        "self_exclusion.started",
        {"player_id": player.ref, "starts_at": T + dt.timedelta(days=2)},
        at=T + dt.timedelta(days=2),
    )
    cpa.refresh_from_db()
    assert cpa.status == "failed" and "self-excluded" in cpa.status_reason


def test_cpa_waits_for_kyc_and_qualifies_when_it_passes_inside_the_window(pipeline, make_player):
    assignment = _cpa_plan()
    player = make_player(assignment.affiliate, registered_at=T)
    pipeline.kyc(player.ref, "pending", T)
    pipeline.deposit(player.ref, "50", T + dt.timedelta(hours=1))
    assert not CommissionEntry.objects.exists()  # waiting, not suppressed
    passed_at = T + dt.timedelta(days=10)
    event_id = pipeline.kyc(player.ref, "passed", passed_at)
    cpa = CommissionEntry.objects.get(kind="cpa")
    assert (cpa.status, cpa.occurred_at, cpa.source_event_id) == ("pending", passed_at, event_id)


def test_kyc_passing_after_the_window_never_qualifies(pipeline, make_player):
    assignment = _cpa_plan()
    player = make_player(assignment.affiliate, registered_at=T)
    pipeline.deposit(player.ref, "50", T + dt.timedelta(hours=1))
    pipeline.kyc(player.ref, "passed", T + dt.timedelta(days=31))
    assert not CommissionEntry.objects.exists()


def test_unlicensed_country_is_never_attributed(pipeline):
    BrandLicenceFactory(brand="spinpalace", country__code="DE")
    assignment = _cpa_plan()
    at = dt.datetime(2026, 1, 2, tzinfo=UTC)
    click = ClickFactory(link__creative__campaign__affiliate=assignment.affiliate)
    pipeline.send(
        "crm",
        "player.registered",
        {
            "player_id": "C-geo",
            "registered_at": at,
            "tracking_token": click.token,
            "country": "US",
            "brand": "spinpalace",
        },
        at=at,
    )
    player = Player.objects.get()
    assert (player.attribution_status, player.affiliate) == ("geo_blocked", None)
    IdentifierMappingFactory(player=player, system="payments", external_id="C-geo")
    IdentifierMappingFactory(player=player, system="compliance", external_id="C-geo")
    pipeline.kyc("C-geo", "passed", at)
    pipeline.deposit("C-geo", "50", at)
    assert not CommissionEntry.objects.exists()


def test_licence_withdrawn_later_suppresses_accrual(pipeline, make_player):
    assignment = _rebate_plan()
    player = make_player(assignment.affiliate)
    player.__class__.objects.filter(pk=player.pk).update(country="FR")  # no FR licence
    _round_trip(pipeline, player, 1, T)
    line = CommissionEntry.objects.get(kind="lot_rebate")
    assert line.status == "suppressed" and "not licensed" in line.status_reason


def test_suspended_affiliate_accrues_only_suppressed_lines(pipeline, make_player):
    affiliate = AffiliateFactory(status=Affiliate.Status.SUSPENDED)
    _rebate_plan(affiliate)
    player = make_player(affiliate)
    _round_trip(pipeline, player, 1, T)
    _round_trip(pipeline, player, 2, T + dt.timedelta(hours=2))
    lines = CommissionEntry.objects.filter(affiliate=affiliate)
    assert lines.count() == 2
    assert set(lines.values_list("status", flat=True)) == {"suppressed"}
    assert set(lines.values_list("status_reason", flat=True)) == {
        f"Affiliate suspended: {affiliate.name}"
    }


def test_override_lets_accrual_through_and_is_audited(pipeline, make_player):
    assignment = _rebate_plan()
    player = make_player(assignment.affiliate)
    SelfExclusionFactory(player=player, starts_at=T - dt.timedelta(days=1))
    override = exclusion_override_create(
        player=player,
        kind="exclusion",
        reason="Duplicate account closed by mistake",
        starts_at=T - dt.timedelta(days=1),
        expires_at=T + dt.timedelta(days=1),
        acting_user=UserFactory(),
    )
    _round_trip(pipeline, player, 1, T)
    line = CommissionEntry.objects.get(kind="lot_rebate")
    assert line.status == "approved"
    assert line.detail["override_id"] == override.pk
    assert AuditLog.objects.filter(
        action="exclusion_override.used", object_id=str(override.pk)
    ).exists()
