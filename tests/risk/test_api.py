"""GET /api/v1/risk-cases/: its scope, filters, shape and a query count that does not grow with
the page (issue 17 §7)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.risk.models import RiskCase, RiskRule, RiskSignal
from tests.factories import AffiliateFactory

from .conftest import attributed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_settle(settings):
    settings.AFFILIATEHUB_API_SETTLE_SECONDS = 0


def cases(n):
    rule = RiskRule.objects.get(code="duplicate_identity")
    made = []
    for i in range(n):
        affiliate = AffiliateFactory()
        case = RiskCase.objects.create(affiliate=affiliate, score=40)
        players = [attributed(affiliate) for _ in range(3)]
        case.players.add(*players)
        signal = RiskSignal.objects.create(
            rule=rule,
            key=f"k{affiliate.pk}-{i}",
            affiliate=affiliate,
            evidence={"value": "ab…cd"},
            summary="3 players share device hash ab…cd",
            score=40,
            case=case,
        )
        signal.players.add(*players)
        made.append(case)
    return made


def _queries(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/api/v1/risk-cases/")
    assert response.status_code == 200
    return len(captured), response.json()["results"]


def test_the_page_costs_the_same_queries_for_two_cases_or_six(api_key_factory):
    client = api_key_factory("risk:read")
    client.get("/api/v1/risk-cases/")  # the key's first use is recorded once
    cases(2)
    few, results = _queries(client)
    assert len(results) == 2
    cases(4)
    many, results = _queries(client)
    assert len(results) == 6 and many == few
    first = results[0]
    assert set(first) == {
        "id",
        "affiliate",
        "status",
        "score",
        "players",
        "signals",
        "held",
        "payouts_held",
        "opened_at",
        "decided_at",
    }
    assert len(first["signals"][0]["players"]) == 3


def test_filters_and_bad_input(api_key_factory):
    client = api_key_factory("risk:read")
    made = cases(2)
    RiskCase.objects.filter(pk=made[0].pk).update(status="escalated")
    answer = client.get("/api/v1/risk-cases/", {"status": "escalated"}).json()["results"]
    assert [c["id"] for c in answer] == [made[0].pk]
    answer = client.get("/api/v1/risk-cases/", {"affiliate": made[1].affiliate_id}).json()
    assert [c["id"] for c in answer["results"]] == [made[1].pk]
    bad = client.get("/api/v1/risk-cases/", {"status": "maybe"})
    assert bad.status_code == 400 and bad["Content-Type"].startswith("application/problem+json")
    assert "status" in bad.json()["errors"]
    assert api_key_factory().get("/api/v1/risk-cases/").status_code == 403
