"""Outbound deliveries become a table partitioned by month on created_at (issue 18 §1).

On an existing database, in one transaction holding an ACCESS EXCLUSIVE lock on the delivery
table (enqueueing and sending wait; count about 5 s per million deliveries):

1. The foreign keys that point at the delivery table (DeliveryAttempt.delivery here, and
   monitoring's Alert.delivery in monitoring 0016) are dropped (db_constraint=False): a foreign
   key needs a unique key to reference, and the partitioned table's only one is (id, created_at).
2. OutboundDeliveryKey (idempotency_key -> delivery id, created_at) is created and filled from
   the deliveries: idempotency across partitions and archived months.
3. apps.core.partition_migration.table_partition: one partition per month that holds
   deliveries, the previous, current and next AFFILIATEHUB_EVENT_PARTITIONS_AHEAD months, a
   default partition; rows, ids, indexes, check constraints and the endpoint foreign key kept;
   primary key (id, created_at). The unique idempotency_key constraint and its pattern index
   are not recreated: OutboundDeliveryKey holds it.

The reverse turns the table back into a plain one with its unique key (rows kept; archived
months are not restored).
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models

from apps.core.partition_migration import table_partition, table_unpartition

TABLE = "integrations_outbounddelivery"
UNIQUE = f"{TABLE}_idempotency_key_key"


def _pattern_index(definition: str) -> bool:
    return "(idempotency_key varchar_pattern_ops)" in definition


def partition(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            "INSERT INTO integrations_outbounddeliverykey (idempotency_key, delivery_id, created_at) "
            f"SELECT idempotency_key, id, created_at FROM {TABLE}"
        )
        table_partition(cursor, TABLE, "created_at", skip_index=_pattern_index)


def unpartition(apps, schema_editor):
    like = schema_editor._create_index_name(TABLE, ["idempotency_key"], suffix="_like")
    with schema_editor.connection.cursor() as cursor:
        table_unpartition(cursor, TABLE)
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {UNIQUE} UNIQUE (idempotency_key)")
        cursor.execute(f"CREATE INDEX {like} ON {TABLE} (idempotency_key varchar_pattern_ops)")


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0012_poll_lease"),
        ("monitoring", "0017_alert_delivery_no_db_constraint"),
    ]

    operations = [
        migrations.AlterField(
            model_name="deliveryattempt",
            name="delivery",
            field=models.ForeignKey(
                db_constraint=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="attempt_log",
                to="integrations.outbounddelivery",
            ),
        ),
        migrations.AlterField(
            model_name="outbounddelivery",
            name="created_at",
            field=models.DateTimeField(
                db_index=True, default=django.utils.timezone.now, editable=False
            ),
        ),
        migrations.CreateModel(
            name="OutboundDeliveryKey",
            fields=[
                (
                    "idempotency_key",
                    models.CharField(max_length=255, primary_key=True, serialize=False),
                ),
                ("delivery_id", models.BigIntegerField()),
                ("created_at", models.DateTimeField()),
            ],
            options={"db_table": "integrations_outbounddeliverykey"},
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(partition, unpartition)],
            state_operations=[
                migrations.AlterField(
                    model_name="outbounddelivery",
                    name="idempotency_key",
                    field=models.CharField(
                        help_text="Unique through OutboundDeliveryKey (across partitions).",
                        max_length=255,
                    ),
                ),
            ],
        ),
    ]
