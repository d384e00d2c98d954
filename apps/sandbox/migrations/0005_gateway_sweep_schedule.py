"""Schedule the sandbox gateway's sweeper every minute in django-celery-beat (DatabaseScheduler):
it settles and reports payouts whose own settle timer was lost (gateway.gateway_payouts_overdue).
"""

from django.db import migrations

TASK_NAME = "sandbox: settle overdue gateway payouts"


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "sandbox.gateway_sweep",
            "interval": every_minute,
            "enabled": True,
            "description": "The sandbox payment gateway settles payouts whose result is overdue "
            "and re-sends results the hub has not acknowledged.",
        },
    )


def unschedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0004_endpoint_quiet_until"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]
