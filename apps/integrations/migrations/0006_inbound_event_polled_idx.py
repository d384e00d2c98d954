"""A partial index on the events polling stored: (integration, webhook_id) WHERE source = 'poll'.

Reconciliation tells the ids an earlier poll stored apart from those received by webhook; with
this index it does so without reading the table (polling.py, _ABSENT_SQL), which halved the
anti-join's time per page. Webhook inserts only evaluate the predicate.

Plain SQL with no model state on purpose: InboundEvent's Meta belongs to the webhook side, and
the index serves only polling's query. Built CONCURRENTLY, so migrating a large table does not
block webhook inserts.
"""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("integrations", "0005_outbound_sweeper_schedule")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS inbound_event_polled_idx "
            "ON integrations_inboundevent (integration_id, webhook_id) WHERE source = 'poll'",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS inbound_event_polled_idx",
        ),
    ]
