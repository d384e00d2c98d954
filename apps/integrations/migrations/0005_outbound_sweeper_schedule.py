"""Schedule the outbound delivery sweeper every 10 s in django-celery-beat (DatabaseScheduler)."""

from django.db import migrations

TASK_NAME = "integrations: sweep outbound deliveries"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_10s, _ = IntervalSchedule.objects.get_or_create(every=10, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "integrations.sweep_outbound_deliveries",
            "interval": every_10s,
            "enabled": True,
            "description": "Send due outbound retries, re-enqueue lost messages, reclaim rows of lost workers, "
            "disable endpoints failing for days.",
        },
    )


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0004_outbound_deliveries"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
