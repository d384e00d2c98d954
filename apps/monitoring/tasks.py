"""Celery entry points of monitoring. Thin: one service call each, safe to run twice."""

from __future__ import annotations

import datetime as dt
import smtplib

from celery import shared_task
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from apps.monitoring import rollups, services


@shared_task(
    name="monitoring.refresh_rollups",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
)
def refresh_rollups(hours: int = 3) -> int:
    """Beat: the last 3 hours every minute, the last 48 every 15 minutes (migration 0002)."""
    return rollups.inbound_rollup_refresh(since=timezone.now() - dt.timedelta(hours=hours))


@shared_task(
    name="monitoring.evaluate_alert_rules",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
)
def evaluate_alert_rules() -> dict[str, int]:
    """Beat, every minute: refresh the current hours, then evaluate the rules against them."""
    rollups.inbound_rollup_refresh(since=timezone.now() - dt.timedelta(hours=1))
    result = services.alert_rules_evaluate()
    return {"fired": len(result.fired), "resolved": len(result.resolved), "skipped": result.skipped}


@shared_task(
    name=services.EMAIL_ALERT_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(smtplib.SMTPException, OSError, OperationalError),
    max_retries=8,
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
)
def email_alert(alert_id: int, event: str) -> bool:
    return services.alert_email_send(alert_id=alert_id, event=event)
