"""Celery side of the sandbox gateway: settle a payout attempt, then post the signed result
webhook to AffiliateHub (outside any transaction), retrying until the hub answers 2xx. A retry
rebuilds the same webhook from the stored result: same id, same body."""

from __future__ import annotations

import requests
from celery import shared_task

from apps.sandbox import gateway
from apps.sandbox.services import sandbox_endpoint_refresh


class CallbackNotAccepted(Exception):
    pass


@shared_task(
    name="sandbox.gateway_settle_payout",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=(requests.RequestException, CallbackNotAccepted),
    retry_backoff=2,
    retry_backoff_max=120,
    max_retries=10,
)
def settle_payout(payout_id: int, attempt: int) -> int | None:
    callback = gateway.gateway_payout_settle(payout_id=payout_id, attempt=attempt)
    if callback is None:
        return None
    return post_callback(payout_id=payout_id, callback=callback)


def post_callback(*, payout_id: int, callback: gateway.Callback, session=requests) -> int:
    secret = sandbox_endpoint_refresh(slug=callback.slug, kind="payments")
    response = session.post(
        callback.url,
        data=callback.body,
        headers=gateway.callback_headers(callback, secret=secret),
        timeout=15,
    )
    gateway.callback_recorded(payout_id=payout_id, status=response.status_code)
    if not 200 <= response.status_code < 300:
        raise CallbackNotAccepted(f"Hub answered {response.status_code} to {callback.webhook_id}")
    return response.status_code


@shared_task(name="sandbox.gateway_sweep", ignore_result=True)
def sweep_overdue() -> int:
    """Settle (or report again) every payout whose result is overdue; see
    gateway.gateway_payouts_overdue. Settling is idempotent, so a payout whose own timer
    fires meanwhile is still paid at most once and reported under one webhook id."""
    overdue = gateway.gateway_payouts_overdue()
    for payout_id, attempt in overdue:
        settle_payout.delay(payout_id, attempt)
    return len(overdue)
