"""Retention: filters and aggregates, export permissions and minimised columns, cohort
arithmetic."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.players.models import Deposit, Player
from apps.retention.selectors import cohorts, retention_player_list
from tests.factories import (
    AffiliateFactory,
    KycRecordFactory,
    PlayerFactory,
    SelfExclusionFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
EXPORT_COLUMNS = (
    "player_id",
    "crm_id",
    "identifiers",
    "affiliate",
    "campaign",
    "brand",
    "country",
    "registered_on",
    "first_deposit_on",
    "last_deposit_on",
    "last_activity_on",
    "currency",
    "lifetime_deposits",
    "ngr",
    "kyc_status",
    "self_excluded",
)


def deposit(player, days_ago, amount="100", now=None):
    now = now or timezone.now()
    n = Deposit.objects.count()
    return Deposit.objects.create(
        player=player,
        system="crm",
        deposit_id=f"D{n}",
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=now - dt.timedelta(days=days_ago),
    )


def referred(affiliate, **kwargs):
    return PlayerFactory(
        affiliate=affiliate, attribution_status=Player.AttributionStatus.ATTRIBUTED, **kwargs
    )


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
    return {
        "dormant": dormant,
        "active": active,
        "organic": organic_dormant,
        "never": never,
        "aff": aff,
    }


def test_dormant_referred_players_with_aggregates_in_one_query(players):
    with CaptureQueriesContext(connection) as queries:
        rows = list(retention_player_list(filters={"origin": "referred", "dormant_days": "30"}))
    assert len(queries) == 1
    assert [p.pk for p in rows] == [players["dormant"].pk]
    row = rows[0]
    assert (
        row.lifetime_deposits == Decimal("2050")
        and row.kyc_status == "passed"
        and row.is_excluded is False
    )
    assert row.first_deposit_at < row.last_deposit_at
    ids = lambda **f: {p.pk for p in retention_player_list(filters=f)}  # noqa: E731
    assert ids(origin="organic") == {players["organic"].pk}
    assert ids(excluded="true") == {players["active"].pk}
    assert ids(kyc="none", origin="referred") == {players["active"].pk, players["never"].pk}
    assert ids(deposits_band="1000+") == {players["dormant"].pk}
    assert ids(deposits_band="0") == {players["never"].pk}
    assert ids(affiliate=str(players["aff"].pk), dormant_days="30") == {players["dormant"].pk}


def test_admin_list_filters_and_export_permissions(client, players):
    url = reverse("admin:retention_retentionplayer_changelist")
    retention = UserFactory(roles=["Retention"])
    client.force_login(retention)
    response = client.get(url, {"origin": "referred", "dormant_days": "30"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [
        Player.objects.get(pk=players["dormant"].pk)
    ]

    export_url = reverse("admin:retention_retentionplayer_export")
    response = client.post(
        export_url + "?origin=referred&dormant_days=30",
        {
            "format": "0",
            "resource": "0",
            **{f"retentionplayerresource_{f}": "on" for f in EXPORT_COLUMNS},
        },
    )
    assert response.status_code == 200, response.content[:500]
    text = response.content.decode()
    header, *lines = [line for line in text.splitlines() if line]
    assert (
        "lifetime_deposits" in header
        and "email" not in header.lower()
        and "name" not in header.lower()
    )
    assert len(lines) == 1 and lines[0].startswith(f"{players['dormant'].pk},")
    assert header.split(",") == list(EXPORT_COLUMNS)

    # Compliance sees no retention list; Integrations neither; a staff user in no role gets 403.
    client.force_login(UserFactory(roles=["Compliance"]))
    assert client.get(url).status_code == 403
    assert client.get(export_url).status_code == 403


def test_export_is_refused_to_a_viewer_outside_retention_and_finance(
    client, players, django_user_model
):
    from django.contrib.auth.models import Permission

    viewer = UserFactory(username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_retentionplayer"))
    client.force_login(viewer)
    assert client.get(reverse("admin:retention_retentionplayer_changelist")).status_code == 200
    assert client.get(reverse("admin:retention_retentionplayer_export")).status_code == 403
    client.force_login(UserFactory(roles=["Finance"]))
    assert client.get(reverse("admin:retention_retentionplayer_export")).status_code == 200


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

    rows = {
        (r.month.isoformat(), r.group): r
        for r in cohorts(now=now, days=30, since=dt.date(2026, 1, 1))
    }
    fx = rows[("2026-06-01", "FX Signals")]
    assert (fx.players, fx.depositors, fx.churned, fx.reactivated) == (5, 4, 2, 2)
    assert fx.churn_rate == Decimal("50.00") and fx.reactivation_rate == Decimal("50.00")
    organic = rows[("2026-06-01", "organic")]
    assert (organic.players, organic.depositors, organic.churned, organic.reactivated) == (
        2,
        2,
        1,
        0,
    )
    assert organic.churn_rate == Decimal("50.00") and organic.reactivation_rate == Decimal("0.00")

    client.force_login(UserFactory(roles=["Retention"]))
    page = client.get(reverse("retention-cohorts"))
    assert page.status_code == 200 and "cohort-chart-data" in page.content.decode()


# --- the retention workplace: ranges, any identifier, segments, suppressed exports -------------

from apps.players.models import Purchase  # noqa: E402
from apps.retention.models import RetentionSegment  # noqa: E402
from tests.factories import IdentifierMappingFactory  # noqa: E402


def test_date_and_amount_ranges_currency_sub_id_product_and_any_identifier(players):
    dormant, active = players["dormant"], players["active"]
    IdentifierMappingFactory(player=dormant, system="crm", external_id="CRM-777")
    Player.objects.filter(pk=active.pk).update(sub2="spring-promo")
    Purchase.objects.create(
        player=active,
        system="crm",
        purchase_id="PU1",
        product="Challenge 50k",
        amount=Decimal("99"),
        currency="USD",
        purchased_at=timezone.now(),
    )
    ids = lambda **f: {p.pk for p in retention_player_list(filters=f)}  # noqa: E731
    week_ago = (timezone.now() - dt.timedelta(days=7)).isoformat()
    assert ids(last_activity_after=week_ago) == {
        active.pk
    }  # a deposit 2 days ago, and the purchase
    assert ids(last_activity_before=week_ago) == {dormant.pk, players["organic"].pk}
    assert ids(deposits_min="100", deposits_max="100") == {active.pk, players["organic"].pk}
    assert ids(deposits_min="2000") == {dormant.pk}
    assert ids(currency="eur") == {dormant.pk, active.pk, players["organic"].pk}
    assert ids(sub_id="spring-promo") == {active.pk}
    assert ids(product="Challenge 50k") == {active.pk}
    assert ids(identifier="CRM-777") == {dormant.pk}
    assert ids(identifier=str(active.pk)) == {active.pk}


@pytest.mark.parametrize("amount", ["\u0661\u0662\u0663", "\uff19\uff19", "1e3", "12,5"])
def test_amount_bounds_are_ascii_decimals(players, amount):
    from apps.core.filters import FilterError

    with pytest.raises(FilterError, match="ASCII"):
        list(retention_player_list(filters={"deposits_min": amount}))


def test_the_admin_list_takes_date_ranges_and_finds_a_player_by_crm_id(client, players):
    IdentifierMappingFactory(player=players["dormant"], system="crm", external_id="CRM-42")
    client.force_login(UserFactory(roles=["Retention"]))
    url = reverse("admin:retention_retentionplayer_changelist")
    today = timezone.now().date()
    response = client.get(
        url,
        {
            "first_deposit_after": (today - dt.timedelta(days=100)).isoformat(),
            "first_deposit_before": (today - dt.timedelta(days=100)).isoformat(),
        },
    )
    assert response.status_code == 200
    assert [p.pk for p in response.context["cl"].result_list] == [players["dormant"].pk]
    response = client.get(url, {"q": "CRM-42"})
    assert [p.pk for p in response.context["cl"].result_list] == [players["dormant"].pk]
    assert b"CRM-42" in response.content and b"2,050.00 EUR" in response.content


def _export(client, query: str) -> list[dict]:
    import csv
    import io

    response = client.post(
        reverse("admin:retention_retentionplayer_export") + query,
        {
            "format": "0",
            "resource": "0",
            **{f"retentionplayerresource_{f}": "on" for f in EXPORT_COLUMNS},
        },
    )
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_exports_carry_identifiers_and_names_iso_dates_and_amounts_and_suppress_self_excluded(
    client, players
):
    IdentifierMappingFactory(player=players["dormant"], system="crm", external_id="CRM-1")
    IdentifierMappingFactory(player=players["dormant"], system="mt5-live", external_id="5001")
    client.force_login(UserFactory(roles=["Retention"]))
    rows = {row["player_id"]: row for row in _export(client, "?origin=referred")}
    assert str(players["active"].pk) not in rows  # self-excluded: left out by default
    row = rows[str(players["dormant"].pk)]
    assert row["crm_id"] == "CRM-1" and row["identifiers"] == "crm:CRM-1; mt5-live:5001"
    assert row["affiliate"] == "Casino Guru"
    assert row["first_deposit_on"] == (timezone.now() - dt.timedelta(days=100)).date().isoformat()
    assert row["lifetime_deposits"] == "2050.00" and row["currency"] == "EUR"
    # Asked for explicitly, the self-excluded are exported (for suppression lists).
    assert [r["player_id"] for r in _export(client, "?excluded=true")] == [
        str(players["active"].pk)
    ]


def test_retention_saves_a_segment_and_reruns_it(client, players):
    retention = UserFactory(roles=["Retention"])
    client.force_login(retention)
    listing = client.get(
        reverse("admin:retention_retentionplayer_changelist"),
        {"origin": "referred", "dormant_days": "30"},
    )
    assert b"Save these filters as a segment" in listing.content
    add = reverse("admin:retention_retentionsegment_add")
    response = client.post(
        add,
        {"name": "Dormant referred", "query": "origin=referred&dormant_days=30", "description": ""},
    )
    assert response.status_code == 302
    segment = RetentionSegment.objects.get()
    assert segment.created_by == retention
    rerun = client.get(reverse("admin:retention_retentionplayer_changelist") + "?" + segment.query)
    assert [p.pk for p in rerun.context["cl"].result_list] == [players["dormant"].pk]
    refused = client.post(
        add, {"name": "Broken", "query": "dormant_days=soon&colour=red", "description": ""}
    )
    assert refused.status_code == 200 and b"Not a retention filter: colour" in refused.content
