"""The sandbox payment gateway: accept payout requests, pay each Idempotency-Key at most once,
report the result to AffiliateHub later as a signed `payout.confirmed` / `payout.failed` webhook.

A request under a key already seen returns what that key produced, without paying again. A
key whose payment failed may be tried again (a retry of a failed payout keeps its reference):
a failed payment moved no money, so trying again can still never pay twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import orjson
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.core.display import format_money
from apps.sandbox.gateway_models import SandboxGatewayConfig, SandboxGatewayPayout

logger = logging.getLogger(__name__)

FAILURE_REASONS: tuple[tuple[str, str], ...] = (
    ("account_closed", "The beneficiary account is closed."),
    ("invalid_beneficiary", "The beneficiary details were rejected by the receiving institution."),
    ("limit_exceeded", "The daily payout limit of the merchant account is exceeded."),
    ("compliance_hold", "The payout was stopped by the gateway's compliance review."),
)


class GatewayRequestInvalid(ValueError):
    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


class IdempotencyConflict(ValueError):
    """The key was used before for a different payout."""


def failure_reasons(cfg: SandboxGatewayConfig) -> tuple[tuple[str, str], ...]:
    configured = tuple(
        (str(item[0])[:64], str(item[1])[:300])
        for item in cfg.failure_reasons or ()
        if isinstance(item, list | tuple) and len(item) == 2
    )
    return configured or FAILURE_REASONS


def config() -> SandboxGatewayConfig:
    row, _ = SandboxGatewayConfig.objects.get_or_create(pk=1)
    return row


@dataclass(frozen=True)
class Accepted:
    payout: SandboxGatewayPayout
    created: bool  # a new payment attempt was started by this request
    settle_in: int


def _validate(body) -> tuple[str, Decimal, str, dict]:
    errors = {}
    if not isinstance(body, dict):
        raise GatewayRequestInvalid({"body": "Expected a JSON object."})
    reference = body.get("reference")
    if not isinstance(reference, str) or not reference:
        errors["reference"] = "Required string."
    amount = None
    try:
        amount = Decimal(str(body.get("amount"))) if isinstance(body.get("amount"), str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0:
        errors["amount"] = "A positive decimal string."
    currency = body.get("currency")
    if not isinstance(currency, str) or not 3 <= len(currency) <= 4 or not currency.isupper():
        errors["currency"] = "ISO 4217 code."
    method = body.get("method")
    if not isinstance(method, dict) or not method.get("kind"):
        errors["method"] = "An object with at least a kind."
    elif method.get("kind") == "usdt" and not all(
        method.get(f) for f in ("beneficiary_name", "beneficiary_address", "wallet_address")
    ):
        errors["method"] = (
            "USDT payouts need beneficiary_name, beneficiary_address and wallet_address (travel "
            "rule)."
        )
    if errors:
        raise GatewayRequestInvalid(errors)
    return reference, amount, currency, method


def gateway_payout_request(*, idempotency_key: str, body) -> Accepted:
    """Accept a payout request idempotently."""
    if not idempotency_key:
        raise GatewayRequestInvalid({"Idempotency-Key": "The header is required."})
    reference, amount, currency, method = _validate(body)
    settle_in = config().settle_seconds
    with transaction.atomic():
        payout, created = SandboxGatewayPayout.objects.select_for_update().get_or_create(
            idempotency_key=idempotency_key,
            defaults={
                "reference": reference,
                "amount": amount,
                "currency": currency,
                "method": method,
                "gateway_reference": "gw_" + uuid.uuid4().hex[:20],
            },
        )
        if created:
            return Accepted(payout, True, settle_in)
        if (payout.reference, payout.amount, payout.currency) != (reference, amount, currency):
            raise IdempotencyConflict(
                f"Idempotency-Key {idempotency_key} was used for {payout.reference} "
                f"{format_money(payout.amount, payout.currency)}."
            )
        payout.requests += 1
        retry = payout.status == SandboxGatewayPayout.Status.FAILED
        if retry:
            payout.status, payout.attempt, payout.method = (
                SandboxGatewayPayout.Status.PROCESSING,
                payout.attempt + 1,
                method,
            )
            payout.failure_code = payout.failure_message = ""
        payout.save()
    return Accepted(payout, retry, settle_in)


@dataclass(frozen=True)
class Callback:
    url: str
    slug: str
    webhook_id: str
    body: bytes


def gateway_payout_settle(*, payout_id: int, attempt: int) -> Callback | None:
    """Decide payment attempt `attempt` (pay, or fail at the configured rate) and return the
    result webhook. Run again, it decides nothing new and returns the same webhook (same id
    and body), so the task can retry the post safely. None for a superseded attempt."""
    cfg = config()
    with transaction.atomic():
        payout = (
            SandboxGatewayPayout.objects.select_for_update()
            .filter(pk=payout_id, attempt=attempt)
            .first()
        )
        if payout is None:
            return None
        if payout.status == SandboxGatewayPayout.Status.PROCESSING:
            rng = random.Random(f"{payout.idempotency_key}:{payout.attempt}")
            if rng.random() < float(cfg.failure_rate):
                payout.status = SandboxGatewayPayout.Status.FAILED
                payout.failure_code, payout.failure_message = rng.choice(failure_reasons(cfg))
            else:
                payout.status, payout.payments = (
                    SandboxGatewayPayout.Status.PAID,
                    payout.payments + 1,
                )
            payout.settled_at = timezone.now()
            payout.save()
    return callback_for(payout, cfg)


def callback_for(payout: SandboxGatewayPayout, cfg: SandboxGatewayConfig) -> Callback:
    """The result webhook of a settled payout attempt, built only from what is stored."""
    if payout.status == SandboxGatewayPayout.Status.PAID:
        event_type = "payout.confirmed"
        data = {"payout_reference": payout.reference, "gateway_reference": payout.gateway_reference}
    else:
        event_type = "payout.failed"
        data = {
            "payout_reference": payout.reference,
            "gateway_reference": payout.gateway_reference,
            "reason_code": payout.failure_code,
            "message": payout.failure_message,
        }
    envelope = {"type": event_type, "timestamp": payout.settled_at.isoformat(), "data": data}
    return Callback(
        url=cfg.hub_url.rstrip("/") + f"/api/v1/webhooks/{cfg.integration_slug}/",
        slug=cfg.integration_slug,
        webhook_id=f"{payout.gateway_reference}-{payout.attempt}-{event_type.split('.')[1]}",
        body=orjson.dumps(envelope),
    )


# The sweeper stops re-sending a result the hub keeps refusing after this many posts (the
# payout stays visible in the sandbox admin with the hub's last answer).
SWEEP_MAX_CALLBACKS = 20


def gateway_payouts_overdue(
    *, now: dt.datetime | None = None, grace_seconds: int = 60
) -> list[tuple[int, int]]:
    """(payout id, attempt) of every payout whose result should have reached the hub by now:
    still processing, or settled with no 2xx answer from the hub yet, `settle_seconds` plus
    `grace_seconds` after its last request. A real gateway settles its backlog whatever became
    of a single timer; the sweeper does the same for a settle task lost with a broker or
    started before the hub was listening (the demo seed's submitted payout)."""
    now = now or timezone.now()
    due_before = now - dt.timedelta(seconds=config().settle_seconds + grace_seconds)
    unanswered = Q(callbacks_sent__lt=SWEEP_MAX_CALLBACKS) & (
        Q(last_callback_status__isnull=True)
        | ~Q(last_callback_status__gte=200, last_callback_status__lt=300)
    )
    return list(
        SandboxGatewayPayout.objects.filter(updated_at__lt=due_before)
        .filter(Q(status=SandboxGatewayPayout.Status.PROCESSING) | unanswered)
        .order_by("pk")
        .values_list("pk", "attempt")[:500]
    )


def callback_headers(
    callback: Callback, *, secret: str, at: dt.datetime | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for one delivery of the result (fresh timestamp each time)."""
    at = at or dt.datetime.now(dt.UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": callback.webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(callback.webhook_id, at, callback.body.decode()),
    }


def callback_recorded(*, payout_id: int, status: int | None) -> None:
    from django.db.models import F

    SandboxGatewayPayout.objects.filter(pk=payout_id).update(
        callbacks_sent=F("callbacks_sent") + 1, last_callback_status=status
    )
