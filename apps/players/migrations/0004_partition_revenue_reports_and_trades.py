"""Revenue reports and trades become tables partitioned by month of their business date (issue
18 §1): `date` for revenue reports (the period close filters on it: it reads only the months it
closes), `closed_at` for trades.

On an existing database, in one transaction holding ACCESS EXCLUSIVE locks on both tables (fact
recording waits; count about 5 s per million rows):

1. RevenueReport.superseded_by loses its single-column foreign key (a foreign key needs a unique
   key to reference; the partitioned table's is (id, date)); a composite one takes its place:
   (superseded_by_id, date) -> (id, date), since a report is only ever superseded by a report of
   the same player and day.
2. RevenueReportKey (system, report_id) and TradeKey (platform, server, deal_id) are created and
   filled from the facts: the natural keys, unique across partitions.
3. apps.core.partition_migration.table_partition on both tables: one partition per month that
   holds rows, the previous, current and next AFFILIATEHUB_EVENT_PARTITIONS_AHEAD months, a
   default partition; rows, ids, indexes (the one-current-report-per-day unique index included:
   it holds the partition key), check constraints and foreign keys kept; primary keys
   (id, date) and (id, closed_at). The natural-key unique constraints move to the key tables.

The reverse turns both back into plain tables with their unique constraints (rows kept).
"""

import django.db.models.deletion
from django.db import migrations, models

from apps.core.partition_migration import table_partition, table_unpartition

REVENUE = "players_revenuereport"
TRADE = "players_trade"
SUPERSEDED_FK = "revenue_report_superseded_same_day"


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {REVENUE}, {TRADE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            "INSERT INTO players_revenuereportkey (system, report_id, fact_id, date) "
            f"SELECT system, report_id, id, date FROM {REVENUE}"
        )
        cursor.execute(
            "INSERT INTO players_tradekey (platform, server, deal_id, fact_id, closed_at) "
            f"SELECT platform, server, deal_id, id, closed_at FROM {TRADE}"
        )
        table_partition(cursor, REVENUE, "date", date_key=True)
        cursor.execute(
            f"ALTER TABLE {REVENUE} ADD CONSTRAINT {SUPERSEDED_FK} "
            f"FOREIGN KEY (superseded_by_id, date) REFERENCES {REVENUE} (id, date)"
        )
        table_partition(cursor, TRADE, "closed_at")


def unpartition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {REVENUE} DROP CONSTRAINT {SUPERSEDED_FK}")
        table_unpartition(cursor, REVENUE)
        cursor.execute(
            f"ALTER TABLE {REVENUE} ADD CONSTRAINT revenue_report_unique_per_system "
            "UNIQUE (system, report_id)"
        )
        table_unpartition(cursor, TRADE)
        cursor.execute(
            f"ALTER TABLE {TRADE} ADD CONSTRAINT trade_unique_deal "
            "UNIQUE (platform, server, deal_id)"
        )


class Migration(migrations.Migration):
    dependencies = [("players", "0003_identity_values")]

    operations = [
        migrations.CreateModel(
            name="RevenueReportKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "system",
                        "report_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("system", models.CharField(max_length=64)),
                ("report_id", models.CharField(max_length=255)),
                ("fact_id", models.BigIntegerField()),
                ("date", models.DateField()),
            ],
            options={"db_table": "players_revenuereportkey"},
        ),
        migrations.CreateModel(
            name="TradeKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "platform",
                        "server",
                        "deal_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("platform", models.CharField(max_length=10)),
                ("server", models.CharField(max_length=100)),
                ("deal_id", models.CharField(max_length=255)),
                ("fact_id", models.BigIntegerField()),
                ("closed_at", models.DateTimeField()),
            ],
            options={"db_table": "players_tradekey"},
        ),
        migrations.AlterField(
            model_name="revenuereport",
            name="superseded_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="superseded_reports",
                to="players.revenuereport",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, unpartition)],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="revenuereport", name="revenue_report_unique_per_system"
                ),
                migrations.RemoveConstraint(model_name="trade", name="trade_unique_deal"),
            ],
        ),
    ]
