"""Give Finance the payouts (with approve_payout) and Integrations the outbound deliveries."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.payouts.roles import merged_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0001_initial"),
        ("integrations", "0004_outbound_deliveries"),
        ("commissions", "0004_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
