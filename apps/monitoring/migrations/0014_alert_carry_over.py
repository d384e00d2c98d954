"""Carry the rows of integrations.OutboundAlert over to monitoring.Alert (issue 14 §5).

Carried rows keep their kind, endpoint, delivery, message, time and acknowledgement; an
acknowledged one is closed (resolved at its acknowledgement), as acknowledging closes event
alerts from now on. Reversing copies the event alerts back and deletes them here.
"""

from django.db import migrations

BATCH = 2000


def carry_over(apps, schema_editor):
    OutboundAlert = apps.get_model("integrations", "OutboundAlert")
    Alert = apps.get_model("monitoring", "Alert")
    rows = OutboundAlert.objects.select_related("endpoint").order_by("pk")
    batch = []
    for old in rows.iterator(chunk_size=BATCH):
        batch.append(
            Alert(
                kind=old.kind,
                endpoint_id=old.endpoint_id,
                delivery_id=old.delivery_id,
                scope=old.endpoint.name[:80],
                message=old.message,
                fired_at=old.created_at,
                acknowledged_at=old.acknowledged_at,
                acknowledged_by_id=old.acknowledged_by_id,
                resolved_at=old.acknowledged_at,
            )
        )
        if len(batch) >= BATCH:
            Alert.objects.bulk_create(batch)
            batch = []
    Alert.objects.bulk_create(batch)


def carry_back(apps, schema_editor):
    OutboundAlert = apps.get_model("integrations", "OutboundAlert")
    Alert = apps.get_model("monitoring", "Alert")
    events = Alert.objects.exclude(kind="rule").order_by("pk")
    for alert in events.iterator(chunk_size=BATCH):
        old = OutboundAlert.objects.create(
            kind=alert.kind,
            endpoint_id=alert.endpoint_id,
            delivery_id=alert.delivery_id,
            message=alert.message,
            acknowledged_at=alert.acknowledged_at,
            acknowledged_by_id=alert.acknowledged_by_id,
        )
        # created_at is auto_now_add: put the original time back.
        OutboundAlert.objects.filter(pk=old.pk).update(created_at=alert.fired_at)
    events.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0013_alert_events"),
        ("integrations", "0009_gateway_url_dual_control"),
    ]

    operations = [migrations.RunPython(carry_over, carry_back)]
