"""One RiskRule row per rule with its default score and parameters; the risk permissions for
Compliance and Finance (issue 17)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from apps.core.roles import grant_permissions, roles_for_state
    from apps.risk.roles import EXTRA_ROLE_PERMISSIONS
    from apps.risk.rules import rule_modules

    RiskRule = apps.get_model("risk", "RiskRule")
    for code, module in rule_modules().items():
        RiskRule.objects.get_or_create(
            code=code,
            defaults={"name": module.NAME, "score": module.SCORE, "params": dict(module.DEFAULTS)},
        )
    grant_permissions(apps, roles_for_state(apps, EXTRA_ROLE_PERMISSIONS))


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="2", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name="risk: nightly rules",
        defaults={"task": "risk.rules_nightly", "crontab": crontab},
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name="risk: nightly rules"
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("risk", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RunPython(schedule, unschedule),
    ]
