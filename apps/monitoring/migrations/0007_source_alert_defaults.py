"""Default source rules (silence is an alert) and the rollup's new columns for hours already rolled up."""

from decimal import Decimal

from django.db import migrations
from django.db.models import ExpressionWrapper, F, DateTimeField
import datetime as dt

# (name, metric, comparison, threshold, min_samples = minimum baseline, baseline_days)
DEFAULT_RULES = [
    # Below a quarter of the usual for this hour of the day, when the usual is at least 20 events.
    ("Source volume below 25 % of its usual", "volume_vs_baseline", "lt", Decimal("25"), 20, 14),
    # Nothing pushed for 30 minutes, at any hour (raise the minimum baseline to spare quiet hours).
    ("Source silent for 30 minutes", "silent_minutes", "ge", Decimal("30"), 0, 14),
    ("Poll runs failing 3 times in a row", "poll_failures_in_a_row", "ge", Decimal("3"), 0, 14),
]


def forwards(apps, schema_editor):
    AlertRule = apps.get_model("monitoring", "AlertRule")
    for name, metric, comparison, threshold, min_samples, baseline_days in DEFAULT_RULES:
        AlertRule.objects.get_or_create(
            name=name,
            defaults={"metric": metric, "comparison": comparison, "threshold": threshold, "window": "1h",
                      "min_samples": min_samples, "baseline_days": baseline_days},
        )
    # Hours rolled up before the source split: count them as pushed, last pushed at the hour's
    # end (the next refresh of the last 48 hours writes the exact figures).
    InboundHourlyStat = apps.get_model("monitoring", "InboundHourlyStat")
    InboundHourlyStat.objects.filter(received__gt=0, last_pushed_at__isnull=True).update(
        pushed=F("received"),
        last_pushed_at=ExpressionWrapper(F("hour") + dt.timedelta(hours=1), output_field=DateTimeField()),
    )


def backwards(apps, schema_editor):
    apps.get_model("monitoring", "AlertRule").objects.filter(name__in=[r[0] for r in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0006_source_alerts")]

    operations = [migrations.RunPython(forwards, backwards)]
