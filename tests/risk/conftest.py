"""Risk queue fixtures: the commission pipeline fixtures, attributed players, a CPA affiliate."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import Plan
from apps.players.models import Player
from apps.players.services import player_identity_values_record
from apps.risk.models import RiskRule
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.commissions.pipeline import licensed, make_player, pipeline  # noqa: F401
from tests.factories import AffiliateFactory, PlayerFactory

UTC = dt.UTC
AT = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)


def attributed(affiliate, **kwargs) -> Player:
    return PlayerFactory(
        affiliate=affiliate,
        attribution_status=Player.AttributionStatus.ATTRIBUTED,
        attribution_note="click",
        **kwargs,
    )


def identity(player, *, at=AT, **values):
    return player_identity_values_record(
        player=player, data=values, seen_at=at, source_event_id=None
    )


def rule(code: str, **changes) -> RiskRule:
    """The migration's row of a rule, with `params`/`score`/`enabled` changed for the test."""
    row = RiskRule.objects.get(code=code)
    params = {**row.params, **changes.pop("params", {})}
    RiskRule.objects.filter(pk=row.pk).update(params=params, **changes)
    row.refresh_from_db()
    return row


@pytest.fixture
def cpa_affiliate(db):
    """An affiliate on a 200 EUR CPA plan (min FTD 20, KYC not required): each first deposit of
    20+ books a pending CPA line."""
    assignment = PlanAssignmentFactory(
        affiliate=AffiliateFactory(),
        plan=PlanFactory(
            kind=Plan.Kind.CPA,
            cpa_amount=Decimal(200),
            cpa_min_ftd=Decimal(20),
            cpa_kyc_required=False,
        ),
    )
    return assignment.affiliate


def ring_deposit(events, player, *, device="ring-device-hash-01", amount="20", minutes=0):
    return events.send(
        "payments",
        "deposit.created",
        {
            "deposit_id": f"D-{player.pk}",
            "player_id": player.ref,
            "amount": amount,
            "currency": "EUR",
            "device_hash": device,
        },
        at=AT + dt.timedelta(minutes=minutes),
    )


@pytest.fixture
def ring(pipeline, make_player, cpa_affiliate):  # noqa: F811
    """Three players of one affiliate sharing a device, each depositing the 20 EUR minimum."""
    players = [make_player(cpa_affiliate) for _ in range(3)]
    for i, player in enumerate(players):
        ring_deposit(pipeline, player, minutes=i)
    return players
