"""The content types of the moved models follow them: ('monitoring', 'retentionplayer' and
'retentionsegment') become ('retention', ...), so the permissions, the roles' grants of them and
the admin log entries that point at those rows keep pointing at the same models. Then Retention
and Finance are granted retention's permissions (apps/retention/roles.py), which on an existing
database they already hold through the renamed rows and on a fresh one they get here.

Safe on a fresh database (no monitoring rows: nothing to rename) and when a 'retention' row
already exists (made by a permissions sync that ran in between): then the monitoring row's
permissions, grants and every reference to it move onto the retention row, and it is deleted.
Reversible: backwards renames the rows to 'monitoring' again.
"""

from django.db import migrations

MODELS = ("retentionplayer", "retentionsegment")


def _references_to(apps, target_model):
    """(model, field name) of every foreign key in this migration state that points at
    `target_model`."""
    for model in apps.get_models(include_auto_created=True):
        for field in model._meta.concrete_fields:
            if field.many_to_one and field.related_model is target_model:
                yield model, field.name


def _merge_permission(apps, old, new) -> None:
    """Whoever holds `old` (groups, users: any many-to-many to Permission) holds `new`."""
    Permission = apps.get_model("auth", "Permission")
    for through, field in _references_to(apps, Permission):
        if through is Permission or not through._meta.auto_created:
            continue
        holder = next(f.name for f in through._meta.concrete_fields if f.name not in ("id", field))
        holders = through.objects.filter(**{field: old}).values_list(f"{holder}_id", flat=True)
        for holder_id in list(holders):
            through.objects.get_or_create(**{f"{holder}_id": holder_id, field: new})
        through.objects.filter(**{field: old}).delete()
    old.delete()


def move_content_types(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for name in MODELS:
        old = ContentType.objects.filter(app_label=source, model=name).first()
        if old is None:
            continue
        new = ContentType.objects.filter(app_label=target, model=name).first()
        if new is None:
            old.app_label = target
            old.save(update_fields=["app_label"])
            continue
        for permission in Permission.objects.filter(content_type=old):
            twin = Permission.objects.filter(content_type=new, codename=permission.codename).first()
            if twin is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
            else:
                _merge_permission(apps, permission, twin)
        for model, field in _references_to(apps, ContentType):
            model._base_manager.filter(**{field: old}).update(**{field: new})
        old.delete()
    from django.contrib.contenttypes.models import ContentType as LiveContentType

    LiveContentType.objects.clear_cache()


def forwards(apps, schema_editor):
    move_content_types(apps, "monitoring", "retention")


def backwards(apps, schema_editor):
    move_content_types(apps, "retention", "monitoring")


def grant_roles(apps, schema_editor):
    from apps.core.roles import grant_permissions, roles_for_state
    from apps.retention.roles import EXTRA_ROLE_PERMISSIONS

    grant_permissions(apps, roles_for_state(apps, EXTRA_ROLE_PERMISSIONS))


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0001_initial"),
        ("monitoring", "0016_retention_moves_out"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
        migrations.RunPython(grant_roles, migrations.RunPython.noop),
    ]
