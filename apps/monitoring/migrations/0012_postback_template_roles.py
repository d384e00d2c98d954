"""Integrations staff manage the postback templates that send conversions to affiliates."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.monitoring.roles import merged_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0011_gateway_url_change_roles"),
        ("affiliates", "0003_affiliate_banned"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
