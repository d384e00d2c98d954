"""Give Finance the ledger, statements and clawback review, and Compliance the overrides."""

from django.db import migrations

from apps.commissions.roles import merged_roles
from apps.core.roles import roles_for_state, sync_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    dependencies = [
        ("commissions", "0003_instrument_groups"),
        ("compliance", "0002_exclusion_override"),
        ("core", "0002_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
