"""Celery entry points of the polling connectors. Thin: ids in, one service call.

Failures are recorded on the run (the next scheduled poll retries the window); the page
requests inside a run retry on their own. A poll that finds another run in progress skips.
"""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from apps.integrations.polling import services as polling

_OPTIONS = {"acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


@shared_task(name=polling.POLL_TASK, **_OPTIONS)
def poll_integration(
    integration_id: int,
    trigger: str = "schedule",
    since: str | None = None,
    until: str | None = None,
    requested_by: str = "",
) -> dict | None:
    run = polling.integration_poll(
        integration_id=integration_id,
        trigger=trigger,
        since=_time(since),
        until=_time(until),
        requested_by=requested_by,
    )
    if run is None:
        return None
    return {
        "run_id": run.pk,
        "status": run.status,
        "polled": run.polled,
        "recovered": run.recovered,
        "failed": run.failed,
    }


@shared_task(name=polling.DAILY_TASK, **_OPTIONS)
def reconcile_all() -> int:
    """Beat, daily: one reconciliation task per polled integration (the last 24 h plus overlap)."""
    ids = polling.reconciliation_due_integration_ids()
    for integration_id in ids:
        poll_integration.delay(integration_id, trigger="daily", requested_by="daily reconciliation")
    return len(ids)
