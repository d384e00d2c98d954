"""Retention's models leave monitoring with their data (issue 14 §3): on a database at the state
before the move, saved segments, the roles' grants and admin log entries come through
`migrate`, and the move reverses."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as live_apps
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.retention.models import RetentionSegment

BEFORE = [("retention", None)]  # monitoring 0015: monitoring owns the retention models
moves = importlib.import_module("apps.retention.migrations.0002_content_types_and_roles")


def _migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor


def _leaves():
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def _tables() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.table_names(cursor))


@pytest.fixture
def before_the_move():
    """The database migrated back to where monitoring held retention; forward again after."""
    leaves = _leaves()
    executor = _migrate(BEFORE)
    ContentType.objects.clear_cache()
    nodes = [("monitoring", "0015_alert_roles"), ("admin", "0003_logentry_add_action_flag_choices")]
    yield executor.loader.project_state(nodes, at_end=True).apps
    _migrate(leaves)
    ContentType.objects.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_segments_grants_and_log_entries_follow_the_models_to_retention(before_the_move):
    old = before_the_move
    old_ct = old.get_model("contenttypes", "ContentType")
    old_perm = old.get_model("auth", "Permission")
    user = old.get_model("auth", "User").objects.create(username="ret-lead", is_staff=True)
    segment = old.get_model("monitoring", "RetentionSegment").objects.create(
        name="Dormant DE", query="dormant_days=30&country=DE", created_by_id=user.pk
    )
    segment_type, _ = old_ct.objects.get_or_create(app_label="monitoring", model="retentionsegment")
    player_type, _ = old_ct.objects.get_or_create(app_label="monitoring", model="retentionplayer")
    view_segment, _ = old_perm.objects.get_or_create(
        content_type=segment_type, codename="view_retentionsegment", defaults={"name": "v"}
    )
    view_player, _ = old_perm.objects.get_or_create(
        content_type=player_type, codename="view_retentionplayer", defaults={"name": "v"}
    )
    group, _ = old.get_model("auth", "Group").objects.get_or_create(name="Retention")
    group.permissions.add(view_segment, view_player)
    entry = old.get_model("admin", "LogEntry").objects.create(
        user_id=user.pk,
        content_type=segment_type,
        object_id=str(segment.pk),
        object_repr="Dormant DE",
        action_flag=ADDITION,
    )
    assert "monitoring_retentionsegment" in _tables()
    assert "retention_retentionsegment" not in _tables()

    _migrate(_leaves())
    ContentType.objects.clear_cache()

    moved = RetentionSegment.objects.get()
    assert (moved.pk, moved.name, moved.query) == (segment.pk, "Dormant DE", segment.query)
    assert "monitoring_retentionsegment" not in _tables()
    new_type = ContentType.objects.get_for_model(RetentionSegment)
    assert (new_type.pk, new_type.app_label) == (segment_type.pk, "retention")
    assert not ContentType.objects.filter(app_label="monitoring", model__startswith="retention")
    assert LogEntry.objects.get(pk=entry.pk).content_type_id == segment_type.pk
    retention = Group.objects.get(name="Retention")
    granted = {f"{p.content_type.app_label}.{p.codename}" for p in retention.permissions.all()}
    assert {"retention.view_retentionsegment", "retention.view_retentionplayer"} <= granted
    assert {p.pk for p in retention.permissions.all()} >= {view_segment.pk, view_player.pk}
    user = live_apps.get_model("auth", "User").objects.get(pk=user.pk)
    user.groups.add(retention)
    assert user.has_perm("retention.view_retentionplayer")

    _migrate(BEFORE)
    ContentType.objects.clear_cache()
    assert "monitoring_retentionsegment" in _tables()
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM monitoring_retentionsegment")
        assert cursor.fetchall() == [("Dormant DE",)]
    assert ContentType.objects.get(pk=segment_type.pk).app_label == "monitoring"


@pytest.mark.django_db
def test_a_retention_row_made_in_between_takes_over_the_monitoring_rows_grants():
    """post_migrate (or a permissions sync) may have made the retention row already: the
    monitoring row's grants and log entries move onto it and the monitoring row goes."""
    ContentType.objects.clear_cache()
    current = ContentType.objects.get(app_label="retention", model="retentionplayer")
    stale = ContentType.objects.create(app_label="monitoring", model="retentionplayer")
    stale_view = Permission.objects.create(
        content_type=stale, codename="view_retentionplayer", name="Can view retention player"
    )
    stale_custom = Permission.objects.create(
        content_type=stale, codename="call_retentionplayer", name="Can call"
    )
    group = Group.objects.create(name="Old retention desk")
    group.permissions.add(stale_view, stale_custom)
    user = live_apps.get_model("auth", "User").objects.create(username="u")
    user.user_permissions.add(stale_view)
    entry = LogEntry.objects.create(
        user=user, content_type=stale, object_id="1", object_repr="p", action_flag=ADDITION
    )

    moves.forwards(live_apps, None)

    assert not ContentType.objects.filter(pk=stale.pk).exists()
    view = Permission.objects.get(content_type=current, codename="view_retentionplayer")
    custom = Permission.objects.get(content_type=current, codename="call_retentionplayer")
    assert set(group.permissions.all()) == {view, custom}
    assert list(user.user_permissions.all()) == [view]
    assert LogEntry.objects.get(pk=entry.pk).content_type == current


@pytest.mark.django_db
def test_nothing_to_move_on_a_fresh_database():
    before = set(ContentType.objects.values_list("pk", "app_label", "model"))
    moves.forwards(live_apps, None)
    assert set(ContentType.objects.values_list("pk", "app_label", "model")) == before
