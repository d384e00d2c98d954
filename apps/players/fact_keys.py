"""The natural keys of the partitioned facts (issue 18 §1).

RevenueReport is partitioned by month of `date` and Trade by month of `closed_at`
(apps.core.partitions; migration players 0004). PostgreSQL only allows unique keys that include
the partition key, and neither natural key does, so each lives in a narrow unpartitioned table:
(system, report_id) -> the report's id and date, (platform, server, deal_id) -> the trade's id and
close time. apps.core.db.insert_or_skip_keyed inserts the key (ON CONFLICT DO NOTHING) and, for
a new key only, the fact, in one statement: the same report or deal sent again months later is
still the stored one. Facts are never dropped, so neither are their keys.
"""

from __future__ import annotations

from django.db import models

from apps.core import partitions

SYSTEM_MAX_LENGTH = 64
EXTERNAL_ID_MAX_LENGTH = 255

REVENUE_TABLE = "players_revenuereport"
TRADE_TABLE = "players_trade"
partitions.register(REVENUE_TABLE, key="date", date_key=True)
partitions.register(TRADE_TABLE, key="closed_at")


class RevenueReportKey(models.Model):
    """(system, report_id) -> the revenue report (its id and its partition key, date)."""

    pk = models.CompositePrimaryKey("system", "report_id")
    system = models.CharField(max_length=SYSTEM_MAX_LENGTH)
    report_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    fact_id = models.BigIntegerField()
    date = models.DateField()

    class Meta:
        db_table = "players_revenuereportkey"

    def __str__(self) -> str:
        return f"{self.system}:{self.report_id} -> #{self.fact_id}"


class TradeKey(models.Model):
    """(platform, server, deal_id) -> the trade (its id and its partition key, closed_at)."""

    pk = models.CompositePrimaryKey("platform", "server", "deal_id")
    platform = models.CharField(max_length=10)
    server = models.CharField(max_length=100)
    deal_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    fact_id = models.BigIntegerField()
    closed_at = models.DateTimeField()

    class Meta:
        db_table = "players_tradekey"

    def __str__(self) -> str:
        return f"{self.platform}/{self.server}/{self.deal_id} -> #{self.fact_id}"
