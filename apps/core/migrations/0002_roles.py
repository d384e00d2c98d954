"""Grant the staff roles the permissions of the affiliates, players, compliance and mappings models."""

from django.db import migrations

from apps.core.roles import roles_for_state, sync_roles


def forwards(apps, schema_editor):
    sync_roles(apps, roles_for_state(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("affiliates", "0001_initial"),
        ("players", "0001_initial"),
        ("compliance", "0001_initial"),
        ("mappings", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
