"""The staff roles lose the permissions of the dropped integrations.OutboundAlert: integration
engineers acknowledge every alert through monitoring.Alert (which they already could)."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.monitoring.roles import merged_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0014_alert_carry_over"),
        ("integrations", "0011_delete_outboundalert"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
