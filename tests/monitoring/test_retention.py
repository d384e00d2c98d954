"""Retention: filters and aggregates, export permissions and minimised columns, cohort arithmetic."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.compliance.retention import cohorts, retention_player_list
from apps.players.models import Deposit, Player
from tests.factories import (
    AffiliateFactory,
    KycRecordFactory,
    PlayerFactory,
    SelfExclusionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def deposit(player, days_ago, amount="100", now=None):
    now = now or timezone.now()
    n = Deposit.objects.count()
    return Deposit.objects.create(player=player, system="crm", deposit_id=f"D{n}", amount=Decimal(amount),
                                  currency="EUR", occurred_at=now - dt.timedelta(days=days_ago))


def referred(affiliate, **kwargs):
    return PlayerFactory(affiliate=affiliate, attribution_status=Player.AttributionStatus.ATTRIBUTED, **kwargs)


@pytest.fixture
def players():
    aff = AffiliateFactory(name="Casino Guru")
    dormant = referred(aff)
    deposit(dormant, 100, "50")
    deposit(dormant, 90, "2000")
    active = referred(aff)
    deposit(active, 2)
    organic_dormant = PlayerFactory()
    deposit(organic_dormant, 120)
    never = referred(aff)
    KycRecordFactory(player=dormant, status="passed")
    SelfExclusionFactory(player=active, starts_at=timezone.now() - dt.timedelta(days=1))
    return {"dormant": dormant, "active": active, "organic": organic_dormant, "never": never, "aff": aff}


def test_dormant_referred_players_with_aggregates_in_one_query(players):
    with CaptureQueriesContext(connection) as queries:
        rows = list(retention_player_list(filters={"origin": "referred", "dormant_days": "30"}))
    assert len(queries) == 1
    assert [p.pk for p in rows] == [players["dormant"].pk]
    row = rows[0]
    assert row.lifetime_deposits == Decimal("2050") and row.kyc_status == "passed" and row.is_excluded is False
    assert row.first_deposit_at < row.last_deposit_at
    ids = lambda **f: {p.pk for p in retention_player_list(filters=f)}  # noqa: E731
    assert ids(origin="organic") == {players["organic"].pk}
    assert ids(excluded="true") == {players["active"].pk}
    assert ids(kyc="none", origin="referred") == {players["active"].pk, players["never"].pk}
    assert ids(deposits_band="1000+") == {players["dormant"].pk}
    assert ids(deposits_band="0") == {players["never"].pk}
    assert ids(affiliate=str(players["aff"].pk), dormant_days="30") == {players["dormant"].pk}


def test_admin_list_filters_and_export_permissions(client, players):
    url = reverse("admin:monitoring_retentionplayer_changelist")
    retention = UserFactory(roles=["Retention"])
    client.force_login(retention)
    response = client.get(url, {"origin": "referred", "dormant_days": "30"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [Player.objects.get(pk=players["dormant"].pk)]

    export_url = reverse("admin:monitoring_retentionplayer_export")
    response = client.post(export_url + "?origin=referred&dormant_days=30",
                           {"format": "0", "resource": "0", **{f"retentionplayerresource_{f}": "on" for f in (
                               "id", "brand", "country", "registered_at", "attribution_status", "affiliate_id",
                               "campaign_id", "first_deposit_at", "last_deposit_at", "lifetime_deposits", "ngr",
                               "kyc_status", "is_excluded")}})
    assert response.status_code == 200, response.content[:500]
    text = response.content.decode()
    header, *lines = [line for line in text.splitlines() if line]
    assert "lifetime_deposits" in header and "email" not in header.lower() and "name" not in header.lower()
    assert len(lines) == 1 and lines[0].startswith(f"{players['dormant'].pk},")

    # Compliance sees no retention list; Integrations neither; a staff user in no role gets 403.
    client.force_login(UserFactory(roles=["Compliance"]))
    assert client.get(url).status_code == 403
    assert client.get(export_url).status_code == 403


def test_export_is_refused_to_a_viewer_outside_retention_and_finance(client, players, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_retentionplayer"))
    client.force_login(viewer)
    assert client.get(reverse("admin:monitoring_retentionplayer_changelist")).status_code == 200
    assert client.get(reverse("admin:monitoring_retentionplayer_export")).status_code == 403
    client.force_login(UserFactory(roles=["Finance"]))
    assert client.get(reverse("admin:monitoring_retentionplayer_export")).status_code == 200


def test_cohort_arithmetic_on_a_hand_built_cohort(client):
    now = dt.datetime(2026, 11, 27, 12, tzinfo=dt.UTC)
    aff = AffiliateFactory(name="FX Signals")
    month = dt.datetime(2026, 6, 10, tzinfo=dt.UTC)
    a = [referred(aff, registered_at=month) for _ in range(5)]
    # a0: churned (last deposit 40 days ago); a1: active; a2: reactivated (gap 45 days) and active;
    # a3: never deposited; a4: churned and reactivated earlier (gaps 60 days, last 35 days ago).
    deposit(a[0], 40, now=now)
    deposit(a[1], 3, now=now)
    deposit(a[2], 50, now=now)
    deposit(a[2], 5, now=now)
    deposit(a[4], 95, now=now)
    deposit(a[4], 35, now=now)
    o = [PlayerFactory(registered_at=month) for _ in range(2)]
    deposit(o[0], 31, now=now)
    deposit(o[1], 1, now=now)

    rows = {(r.month.isoformat(), r.group): r for r in cohorts(now=now, days=30, since=dt.date(2026, 1, 1))}
    fx = rows[("2026-06-01", "FX Signals")]
    assert (fx.players, fx.depositors, fx.churned, fx.reactivated) == (5, 4, 2, 2)
    assert fx.churn_rate == Decimal("50.00") and fx.reactivation_rate == Decimal("50.00")
    organic = rows[("2026-06-01", "organic")]
    assert (organic.players, organic.depositors, organic.churned, organic.reactivated) == (2, 2, 1, 0)
    assert organic.churn_rate == Decimal("50.00") and organic.reactivation_rate == Decimal("0.00")

    client.force_login(UserFactory(roles=["Retention"]))
    page = client.get(reverse("retention-cohorts"))
    assert page.status_code == 200 and "cohort-chart-data" in page.content.decode()
