"""Subscribers learn of commissions, clawback decisions and approved statements (WEBHOOKS.md §6)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.commissions.models import ClawbackCase, CommissionEntry, Plan, Statement
from apps.commissions.services import (
    clawback_case_approve,
    clawback_case_dismiss,
    statement_approve,
    statements_close,
)
from apps.integrations.models import OutboundDelivery
from apps.integrations.outbound.services import endpoint_create
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.factories import AffiliateFactory, UserFactory

pytestmark = pytest.mark.django_db
T = dt.datetime(2026, 1, 10, 12, tzinfo=dt.UTC)
D = Decimal
EVENTS = ["commission.accrued", "commission.reversed", "clawback.decided", "statement.approved"]


@pytest.fixture
def subscriber(db):
    return endpoint_create(
        name="erp", kind="subscriber", url="https://erp.example/hooks", event_types=EVENTS
    )


@pytest.fixture
def cpa_player(pipeline, make_player):
    affiliate = AffiliateFactory()
    PlanAssignmentFactory(
        affiliate=affiliate, plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200))
    )
    player = make_player(affiliate)
    pipeline.kyc(player.ref, "passed", T)
    return player


def deliveries(event_type: str) -> list[dict]:
    return [
        d.payload for d in OutboundDelivery.objects.filter(event_type=event_type).order_by("pk")
    ]


def test_a_booked_cpa_is_published_once_as_commission_accrued(pipeline, cpa_player, subscriber):
    pipeline.deposit(cpa_player.ref, "100", T, deposit_id="D-A")
    pipeline.deposit(cpa_player.ref, "100", T, deposit_id="D-A")  # re-sent under a new webhook id

    cpa = CommissionEntry.objects.get(kind="cpa")
    [envelope] = deliveries("commission.accrued")
    assert envelope["type"] == "commission.accrued"
    data = envelope["data"]
    assert (data["entry_id"], data["kind"], data["amount"], data["currency"]) == (
        cpa.pk,
        "cpa",
        str(cpa.amount),
        "EUR",
    )
    assert (data["affiliate_id"], data["player_id"]) == (cpa.affiliate_id, cpa_player.pk)
    assert OutboundDelivery.objects.get(event_type="commission.accrued").endpoint == subscriber


def test_suppressed_lines_are_not_published(pipeline, make_player, subscriber):
    affiliate = AffiliateFactory(status="suspended")
    PlanAssignmentFactory(
        affiliate=affiliate, plan=PlanFactory(kind=Plan.Kind.CPA, cpa_amount=D(200))
    )
    player = make_player(affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "100", T)

    assert CommissionEntry.objects.filter(status="suppressed").exists()
    assert deliveries("commission.accrued") == []


def test_clawback_decisions_and_their_lines_are_published(pipeline, cpa_player, subscriber):
    pipeline.deposit(cpa_player.ref, "100", T)
    statements_close(period=dt.date(2026, 1, 1))  # the CPA is approved
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB-1", "player_id": cpa_player.ref, "amount": "100", "currency": "EUR"},
        at=T + dt.timedelta(days=5),
    )
    clawback_case_approve(
        case=ClawbackCase.objects.get(), reason="Confirmed fraud", acting_user=UserFactory()
    )

    [reversed_line] = deliveries("commission.reversed")
    assert reversed_line["data"]["kind"] == "clawback" and reversed_line["data"][
        "amount"
    ].startswith("-200")
    [decided] = deliveries("clawback.decided")
    assert (
        decided["data"]["decision"] == "approved" and decided["data"]["reason"] == "Confirmed fraud"
    )
    assert [line["kind"] for line in decided["data"]["booked_entries"]] == ["clawback"]


def test_a_dismissed_case_is_published_with_nothing_booked(pipeline, cpa_player, subscriber):
    pipeline.deposit(cpa_player.ref, "100", T)
    statements_close(period=dt.date(2026, 1, 1))
    pipeline.send(
        "payments",
        "chargeback.created",
        {"chargeback_id": "CB-2", "player_id": cpa_player.ref, "amount": "100", "currency": "EUR"},
        at=T + dt.timedelta(days=5),
    )
    clawback_case_dismiss(
        case=ClawbackCase.objects.get(), reason="Bank error", acting_user=UserFactory()
    )

    [decided] = deliveries("clawback.decided")
    assert (decided["data"]["decision"], decided["data"]["booked_entries"]) == ("dismissed", [])


def test_an_approved_statement_is_published_with_its_total(pipeline, cpa_player, subscriber):
    pipeline.deposit(cpa_player.ref, "100", T)
    statements_close(period=dt.date(2026, 1, 1))
    statement = Statement.objects.get()
    statement_approve(statement=statement, acting_user=UserFactory())

    [approved] = deliveries("statement.approved")
    assert approved["data"] == {
        "statement_id": statement.pk,
        "affiliate_id": statement.affiliate_id,
        "period": "2026-01-01",
        "currency": statement.currency,
        "total": str(statement.total),
    }
