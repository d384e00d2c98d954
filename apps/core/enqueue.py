"""Enqueue a Celery task by its name, without importing the module that defines it.

A service that schedules background work would otherwise import its app's `tasks` module,
which imports the service back (tasks are thin wrappers around services): an import circle.
Services name the task instead (the name is also what queued messages and beat schedules in
the database refer to, so it never changes); each app's `AppConfig.ready()` imports its tasks
modules, so every process (web, worker, beat, tests) has them registered.
"""

from __future__ import annotations

from celery import current_app


def task_named(name: str):
    """The registered Celery task called `name` (KeyError when no tasks module defines it)."""
    return current_app.tasks[name]
