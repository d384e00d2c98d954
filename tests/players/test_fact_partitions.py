"""Revenue reports and trades partitioned by month of their business date (issue 18 §1): the
month made on first use, the natural key unique across months, restatements held to the same
partition by the database, the default partition, the beat covering every partitioned table."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from apps.core import partitions
from apps.players.facts import RevenueReport, Trade
from apps.players.models import RevenueReportKey, TradeKey
from tests.factories import PlayerFactory, UserFactory
from tests.players.factories_facts import RevenueReportFactory, TradeFactory
from tests.players.test_fact_services import record_report, record_trade

pytestmark = pytest.mark.django_db
REVENUE, TRADE = "players_revenuereport", "players_trade"


@pytest.fixture(autouse=True)
def _forget_partitions():
    partitions.partitions_forget()
    yield
    partitions.partitions_forget()


def _partition_of(table: str, row_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [row_id])
        return cursor.fetchone()[0]


def _exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


def test_a_report_for_a_month_without_partition_waits_in_the_default_then_moves(
    partition_requests, django_capture_on_commit_callbacks
):
    assert not _exists(f"{REVENUE}_p2039_04")
    with django_capture_on_commit_callbacks(execute=True):
        result = record_report(
            PlayerFactory(), "R-1", datetime(2039, 5, 2, tzinfo=UTC), day=date(2039, 4, 30)
        )
    # No DDL inside the event's transaction: the row waits in the safety net and the month is
    # asked for once the transaction commits.
    assert result.created
    assert _partition_of(REVENUE, result.report.pk) == f"{REVENUE}_default"
    assert partition_requests == [(REVENUE, "2039-04-01")]
    assert partition_requests.run() == [True]
    assert _partition_of(REVENUE, result.report.pk) == f"{REVENUE}_p2039_04"
    key = RevenueReportKey.objects.get(system="crm", report_id="R-1")
    assert (key.fact_id, key.date) == (result.report.pk, date(2039, 4, 30))
    assert partitions.default_partition_rows(REVENUE) == 0


def test_a_month_is_asked_for_once_not_per_row(
    partition_requests, django_capture_on_commit_callbacks
):
    player = PlayerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            record_report(
                player, f"R-{n}", datetime(2039, 7, 2, tzinfo=UTC), day=date(2039, 6, n + 1)
            )
    assert partition_requests == [(REVENUE, "2039-06-01")]


def test_the_same_report_id_months_apart_is_still_the_stored_report():
    player = PlayerFactory()
    first = record_report(player, "R-9", datetime(2039, 1, 31, tzinfo=UTC), day=date(2039, 1, 31))
    # Re-sent months later, even with another date: the key finds the January report.
    again = record_report(
        player, "R-9", datetime(2039, 6, 1, tzinfo=UTC), stakes="5", day=date(2039, 6, 1)
    )
    assert (first.created, again.created) == (True, False)
    assert again.report.pk == first.report.pk
    assert again.report.date == date(2039, 1, 31)
    assert RevenueReport.objects.filter(report_id="R-9").count() == 1


def test_the_same_deal_months_apart_is_still_the_stored_trade():
    partitions.partition_ensure(TRADE, date(2039, 2, 1))  # made ahead, as the beat does
    player = PlayerFactory()
    first = record_trade(player, "D-1", closed_at=datetime(2039, 2, 28, 23, 59, tzinfo=UTC))
    again = record_trade(player, "D-1", closed_at=datetime(2039, 9, 1, tzinfo=UTC))
    assert (first.created, again.created) == (True, False)
    assert again.trade.pk == first.trade.pk
    assert _partition_of(TRADE, first.trade.pk) == f"{TRADE}_p2039_02"
    assert Trade.objects.filter(deal_id="D-1").count() == 1
    assert TradeKey.objects.filter(deal_id="D-1").count() == 1
    # Decimals come back as stored, as from an unpartitioned insert.
    assert first.trade.volume_lots == Decimal("0.50")


def test_a_restatement_links_reports_of_the_same_day_only():
    player = PlayerFactory()
    day = date(2039, 3, 10)
    old = record_report(player, "R-a", datetime(2039, 3, 11, tzinfo=UTC), day=day)
    new = record_report(player, "R-b", datetime(2039, 3, 12, tzinfo=UTC), day=day)
    old.report.refresh_from_db()
    assert (old.report.superseded_by_id, new.is_current) == (new.report.pk, True)
    other_day = record_report(player, "R-c", datetime(2039, 4, 1, tzinfo=UTC), day=date(2039, 4, 1))
    # The composite foreign key (superseded_by_id, date) -> (id, date) refuses another day's.
    with pytest.raises(IntegrityError), transaction.atomic():
        RevenueReport.objects.filter(pk=old.report.pk).update(superseded_by=other_day.report)


def test_facts_in_the_default_partition_move_to_their_month():
    # ORM inserts (not the services) for months without a partition land in the safety net.
    current = RevenueReportFactory(date=date(2041, 7, 9), is_current=True)
    RevenueReportFactory(
        player=current.player,
        date=current.date,
        is_current=False,
        superseded_by=current,
        report_id="old",
    )
    TradeFactory(closed_at=datetime(2041, 8, 1, tzinfo=UTC))
    assert partitions.default_partition_rows(REVENUE) == 2
    assert partitions.default_partition_rows(TRADE) == 1
    result = partitions.partitions_maintain_all(now=datetime(2041, 1, 1, tzinfo=UTC))
    assert result[REVENUE]["default_rows"] == 0 and result[TRADE]["default_rows"] == 0
    assert _partition_of(REVENUE, current.pk) == f"{REVENUE}_p2041_07"
    assert RevenueReport.objects.get(report_id="old").superseded_by_id == current.pk


def test_maintenance_covers_every_partitioned_table(settings):
    settings.AFFILIATEHUB_EVENT_PARTITIONS_AHEAD = 1
    result = partitions.partitions_maintain_all(now=datetime(2042, 11, 15, tzinfo=UTC))
    assert set(result) == {
        "integrations_inboundevent",
        "integrations_outbounddelivery",
        REVENUE,
        TRADE,
    }
    assert all(outcome["created"] == 2 for outcome in result.values())
    assert _exists(f"{REVENUE}_p2042_12") and _exists(f"{TRADE}_p2042_12")
    status = partitions.partitions_status()
    assert [part.name for part in status[REVENUE][0]][-2:] == [
        f"{REVENUE}_p2042_11",
        f"{REVENUE}_p2042_12",
    ]


def test_partitions_command_shows_and_maintains_every_table():
    TradeFactory(closed_at=datetime(2043, 3, 3, tzinfo=UTC))  # lands in the default partition
    out = StringIO()
    call_command("partitions", "status", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split(" ")[0] for line in lines] == [
        "integrations_inboundevent",
        "integrations_outbounddelivery",
        REVENUE,
        TRADE,
    ]
    assert lines[3].endswith("default partition rows: 1")
    out = StringIO()
    call_command("partitions", "maintain", stdout=out)
    assert "players_trade: created" in out.getvalue()
    assert partitions.default_partition_rows(TRADE) == 0


def test_health_page_warns_of_facts_in_a_default_partition(client):
    url = reverse("monitoring-dashboard")
    client.force_login(UserFactory(roles=["Integrations"]))
    assert 'id="unpartitioned-players_trade"' not in client.get(url).content.decode()
    TradeFactory(closed_at=datetime(2043, 3, 3, tzinfo=UTC))
    html = client.get(url).content.decode()
    assert 'id="unpartitioned-players_trade"' in html
    assert "1 row(s) of players_trade sit in its default partition" in html
