"""GET /api/v1/players/: the retention filters, through the selector the retention admin uses."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.players.models import Player
from tests.factories import (
    AffiliateFactory,
    CampaignFactory,
    KycRecordFactory,
    PlayerFactory,
    SelfExclusionFactory,
    UserFactory,
)
from tests.players.factories_facts import DepositFactory, RevenueReportFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/players/"


def deposit(player, days_ago, amount="100"):
    return DepositFactory(
        player=player,
        amount=Decimal(amount),
        occurred_at=timezone.now() - dt.timedelta(days=days_ago),
    )


@pytest.fixture
def players():
    aff = AffiliateFactory(name="Casino Guru")
    campaign = CampaignFactory(affiliate=aff)
    referred = {"affiliate": aff, "attribution_status": Player.AttributionStatus.ATTRIBUTED}
    dormant = PlayerFactory(campaign=campaign, **referred)
    deposit(dormant, 100, "50")
    deposit(dormant, 90, "2000")
    KycRecordFactory(player=dormant, status="passed")
    RevenueReportFactory(player=dormant, stakes=Decimal("9000"), winnings=Decimal("1000"))
    active = PlayerFactory(**referred)
    deposit(active, 2, "40")
    SelfExclusionFactory(player=active, starts_at=timezone.now() - dt.timedelta(days=1))
    KycRecordFactory(player=active, status="failed")
    organic = PlayerFactory()
    deposit(organic, 45, "300")
    RevenueReportFactory(player=organic, stakes=Decimal("100"), winnings=Decimal("400"))
    never = PlayerFactory(**referred)
    return {
        "dormant": dormant,
        "active": active,
        "organic": organic,
        "never": never,
        "aff": aff,
        "campaign": campaign,
    }


def ids(client, **params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_retention_filters_through_the_api(api_key_factory, players):
    client = api_key_factory("players:read")
    p = {name: obj.pk for name, obj in players.items()}
    assert ids(client) == {p["dormant"], p["active"], p["organic"], p["never"]}
    # Dormant N days: depositors whose last deposit is at least N days old.
    assert ids(client, dormant_days=30) == {p["dormant"], p["organic"]}
    assert ids(client, dormant_days=60) == {p["dormant"]}
    # Referred vs organic, combined with the base PlayerFilter parameters.
    assert ids(client, origin="referred", dormant_days=30) == {p["dormant"]}
    assert ids(client, origin="organic") == {p["organic"]}
    assert ids(client, affiliate=p["aff"], campaign=p["campaign"]) == {p["dormant"]}
    # KYC (current status, or none) and self-excluded now.
    assert ids(client, kyc="passed") == {p["dormant"]}
    assert ids(client, kyc="failed") == {p["active"]}
    assert ids(client, kyc="none") == {p["organic"], p["never"]}
    assert ids(client, excluded="true") == {p["active"]}
    assert ids(client, excluded="false") == {p["dormant"], p["organic"], p["never"]}
    # Lifetime deposit and NGR bands.
    assert ids(client, deposits_band="0") == {p["never"]}
    assert ids(client, deposits_band="1-100") == {p["active"]}
    assert ids(client, deposits_band="100-1000") == {p["organic"]}
    assert ids(client, deposits_band="1000+") == {p["dormant"]}
    assert ids(client, ngr_band="5000+") == {p["dormant"]}
    assert ids(client, ngr_band="negative") == {p["organic"]}
    # First and last deposit dates.
    since = (timezone.now() - dt.timedelta(days=60)).isoformat()
    assert ids(client, last_deposit_after=since) == {p["active"], p["organic"]}
    assert ids(client, first_deposit_before=since) == {p["dormant"]}


def test_the_api_and_the_retention_admin_answer_the_same_question(api_key_factory, players, client):
    params = {"origin": "referred", "dormant_days": "30", "kyc": "passed"}
    api = ids(api_key_factory("players:read"), **params)
    client.force_login(UserFactory(roles=["Retention"]))
    response = client.get(reverse("admin:retention_retentionplayer_changelist"), params)
    assert response.status_code == 200
    assert {row.pk for row in response.context["cl"].result_list} == api == {players["dormant"].pk}


@pytest.mark.parametrize(
    "params",
    [
        {"dormant_days": "0"},
        {"dormant_days": "36501"},
        {"dormant_days": "1.5"},
        {"dormant_days": "x"},
        {"origin": "affiliate"},
        {"kyc": "approved"},
        {"excluded": "maybe"},
        {"excluded": ""},
        {"deposits_band": "1-1000"},
        {"ngr_band": "huge"},
        {"campaign": "0"},
        {"last_deposit_after": "yesterday"},
    ],
)
def test_bad_retention_filters_are_refused_per_parameter(api_key_factory, params):
    response = api_key_factory("players:read").get(URL, params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert set(response.json()["errors"]) == set(params)


def test_filtered_pages_need_one_query_for_rows_and_figures(api_key_factory, players):
    client = api_key_factory("players:read")
    for _ in range(5):
        deposit(PlayerFactory(affiliate=players["aff"], attribution_status="attributed"), 40)
    client.get(URL, {"dormant_days": "30"})  # warm the key lookup's caches
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL, {"dormant_days": "30", "origin": "referred", "page_size": "3"})
    assert response.status_code == 200 and len(response.json()["results"]) == 3
    player_queries = [q for q in queries if 'FROM "players_player"' in q["sql"]]
    assert len(player_queries) == 1


def test_the_schema_documents_the_retention_filters(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    params = {p["name"]: p for p in schema["paths"][URL]["get"]["parameters"]}
    assert {
        "origin",
        "kyc",
        "excluded",
        "dormant_days",
        "deposits_band",
        "ngr_band",
        "campaign",
        "first_deposit_after",
        "last_deposit_before",
        "affiliate",
        "brand",
    } <= set(params)
    assert params["dormant_days"]["schema"]["maximum"] == 36500
    assert params["excluded"]["schema"]["enum"] == ["false", "true"]
