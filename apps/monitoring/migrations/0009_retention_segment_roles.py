"""Retention keeps its own saved segments."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.monitoring.roles import merged_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0008_retention_segments")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
