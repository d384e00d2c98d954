"""Workers reuse database connections, with Django's per-request hygiene around each task."""

from __future__ import annotations

from celery.signals import task_postrun, task_prerun
from django.conf import settings

from affiliatehub.celery import app
from apps.integrations.inbound import tasks


class _Task:
    def __init__(self, *, is_eager: bool):
        self.request = type("Request", (), {"is_eager": is_eager})()


def test_celery_does_not_close_connections_after_every_task():
    # Without it, Celery's Django fixup opens a new PostgreSQL connection for every task.
    assert settings.CELERY_DB_REUSE_MAX >= 1000
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX


def test_old_or_broken_connections_are_closed_around_each_task(monkeypatch):
    calls = []
    monkeypatch.setattr(tasks, "close_old_connections", lambda: calls.append("checked"))
    task = _Task(is_eager=False)
    task_prerun.send(sender=task, task=task, task_id="t", args=(), kwargs={})
    task_postrun.send(
        sender=task, task=task, task_id="t", args=(), kwargs={}, retval=None, state="SUCCESS"
    )
    assert calls == ["checked", "checked"]

    eager = _Task(is_eager=True)  # runs inside the caller's request
    task_prerun.send(sender=eager, task=eager, task_id="t", args=(), kwargs={})
    assert calls == ["checked", "checked"]


def test_a_connection_that_just_finished_a_task_is_not_health_checked_again(db, monkeypatch):
    from django.db import connection

    from apps.core import db as core_db

    connection.ensure_connection()
    task = _Task(is_eager=False)
    monkeypatch.setattr(
        tasks, "close_old_connections", lambda: setattr(connection, "health_check_done", False)
    )
    task_postrun.send(
        sender=task, task=task, task_id="t", args=(), kwargs={}, retval=None, state="SUCCESS"
    )
    task_prerun.send(sender=task, task=task, task_id="t", args=(), kwargs={})
    assert connection.health_check_done  # used a moment ago: no SELECT 1 before the next task

    monkeypatch.setattr(
        core_db, "RECENTLY_USED_SECONDS", 0.0
    )  # idle longer than that: checked again
    task_prerun.send(sender=task, task=task, task_id="t", args=(), kwargs={})
    assert not connection.health_check_done


def test_a_request_right_after_another_skips_the_health_check(client, db):
    from django.db import connection

    client.get("/healthz")
    connection.health_check_done = False  # what close_old_connections leaves at request_started
    from apps.core.db import connections_skip_fresh_health_checks

    connections_skip_fresh_health_checks()
    assert connection.health_check_done
