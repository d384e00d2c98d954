"""Default alert rules (the seed's thresholds), the beat schedule and the Integrations role."""

from decimal import Decimal

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.monitoring.roles import merged_roles

# (name, metric, comparison, threshold, window, min_samples)
DEFAULT_RULES = [
    ("Outbound delivery below 99.5 %", "delivery_success_rate", "lt", Decimal("99.5"), "1h", 20),
    ("Inbound processing below 99.5 %", "processing_success_rate", "lt", Decimal("99.5"), "1h", 20),
    ("Processing latency p95 above 500 ms", "latency_p95_ms", "gt", Decimal("500"), "1h", 20),
    ("Resolution miss rate rising", "miss_rate_rise", "gt", Decimal("1"), "24h", 50),
    ("Reconciliation delta not zero", "reconciliation_delta", "gt", Decimal("0"), "24h", 0),
    ("Dead letters waiting", "dead_letters", "gt", Decimal("0"), "1h", 0),
]

TASKS = [
    # (name, task, every seconds, kwargs)
    ("monitoring: evaluate alert rules", "monitoring.evaluate_alert_rules", 60, "{}"),
    ("monitoring: refresh inbound rollup (3 h)", "monitoring.refresh_rollups", 60, '{"hours": 3}'),
    ("monitoring: refresh inbound rollup (48 h)", "monitoring.refresh_rollups", 900, '{"hours": 48}'),
]


def forwards(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    for name, metric, comparison, threshold, window, min_samples in DEFAULT_RULES:
        AlertRule.objects.get_or_create(
            name=name,
            defaults={"metric": metric, "comparison": comparison, "threshold": threshold, "window": window,
                      "min_samples": min_samples},
        )
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, kwargs in TASKS:
        interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
        PeriodicTask.objects.update_or_create(
            name=name, defaults={"task": task, "interval": interval, "kwargs": kwargs, "enabled": True}
        )
    sync_roles(apps, roles_for_state(apps, merged_roles()))


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[t[0] for t in TASKS]).delete()
    apps.get_model("monitoring", "AlertRule").objects.filter(name__in=[r[0] for r in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("payouts", "0002_roles"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
