"""Finance reads the player facts (deposits, revenue, trades, purchases, chargebacks); Retention
reads deposits and revenue. Re-syncs the full merged role set (core, commissions, payouts,
monitoring), so no app's permissions are lost."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.monitoring.roles import merged_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    # The latest migration of every app whose models the merged roles name, so every
    # permission exists and no later-granted one is dropped by this re-sync.
    dependencies = [
        ("monitoring", "0004_retention_roles"),
        ("core", "0002_roles"),
        ("affiliates", "0002_postback_templates"),
        ("players", "0002_facts"),
        ("compliance", "0003_selfexclusion_scheme_length"),
        ("mappings", "0001_initial"),
        ("integrations", "0005_outbound_sweeper_schedule"),
        ("commissions", "0004_roles"),
        ("payouts", "0002_roles"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
