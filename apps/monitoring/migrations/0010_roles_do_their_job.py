"""Each role does its main job without a superuser: Finance manages commission terms,
Compliance reviews clawbacks, Integrations replays dead letters and re-runs parked events."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles
from apps.monitoring.roles import merged_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps, merged_roles()))


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0009_retention_segment_roles"),
        ("integrations", "0008_replay_permission"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
