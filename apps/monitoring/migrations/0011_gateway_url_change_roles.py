"""Finance approves gateway URL changes that Integrations staff request."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.monitoring.roles import merged_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0010_roles_do_their_job"),
        ("integrations", "0009_gateway_url_dual_control"),
        ("payouts", "0004_dual_control"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
