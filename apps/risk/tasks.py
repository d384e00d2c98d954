"""Celery entry points of the risk queue. Thin: one service call, safe to run twice (a signal is
written once per key)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.risk import services


@shared_task(
    name="risk.rules_nightly",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=5,
)
def risk_rules_nightly() -> int:
    """Beat, nightly at 02:30 (migration 0002): the statistical rules (CPA farming)."""
    return len(services.rules_evaluate_nightly())
