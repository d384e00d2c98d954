"""OutboundAlert is gone: its rows were carried over to monitoring.Alert (monitoring 0014), the
one alert system (apps/core/alerts.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0010_partition_inbound_events"),
        ("monitoring", "0014_alert_carry_over"),
    ]

    operations = [
        migrations.DeleteModel(name="OutboundAlert"),
    ]
