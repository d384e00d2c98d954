"""Subscriber events about payouts and the payment gateway's payout request (queued as an
outbound delivery, the outbox, with `Idempotency-Key: <reference>`)."""

from __future__ import annotations

from apps.core import conf
from apps.integrations.models import OutboundEndpoint
from apps.integrations.outbound import public as outbound
from apps.payouts.models import (
    Payout,
    destination_request_details,
)
from apps.payouts.services.common import (
    PayoutError,
    PayoutTransitionRefused,
)

GATEWAY_TOPIC = "payout.request"


def _event_data(payout: Payout) -> dict:
    return {
        "payout_reference": payout.reference,
        "affiliate_id": payout.affiliate_id,
        "amount": str(payout.amount),
        "currency": payout.currency,
        "source_amount": str(payout.source_amount),
        "source_currency": payout.source_currency,
        "fx_rate": str(payout.fx_rate),
        "method": (payout.destination or {}).get("kind") or payout.method.kind,
        "status": payout.status,
        "gateway_reference": payout.gateway_reference or None,
    }


def _publish(payout: Payout, event_type: str, *, key_suffix: str = "", **extra) -> None:
    key = f"{event_type}:{payout.reference}" + (f":{key_suffix}" if key_suffix else "")
    outbound.subscriber_event_publish(event_type, _event_data(payout) | extra, idempotency_key=key)


def gateway_endpoint() -> OutboundEndpoint:
    """The payment gateway payout requests go to (setting PAYOUT_GATEWAY_ENDPOINT, by name)."""
    name = conf.text("AFFILIATEHUB_PAYOUT_GATEWAY_ENDPOINT")
    gateways = OutboundEndpoint.objects.filter(kind=OutboundEndpoint.Kind.GATEWAY)
    if name:
        endpoint = gateways.filter(name=name).first()
    else:
        candidates = list(gateways.filter(is_active=True)[:2])
        endpoint = candidates[0] if len(candidates) == 1 else None
        if len(candidates) > 1:
            raise PayoutError(
                "Several payment gateway endpoints are active; name one in "
                "AFFILIATEHUB_PAYOUT_GATEWAY_ENDPOINT."
            )
    if endpoint is None:
        raise PayoutError(
            "No payment gateway endpoint is configured (an outbound endpoint of kind gateway)."
        )
    return endpoint


def gateway_request_body(payout: Payout) -> dict:
    """The payout request, paying the approved destination snapshot (never the method's current
    values, which may have changed since)."""
    if payout.destination is None:
        raise PayoutTransitionRefused(f"Payout {payout.reference} has no approved destination.")
    return {
        "reference": payout.reference,
        "amount": str(payout.amount),
        "currency": payout.currency,
        "method": destination_request_details(payout.destination),
        "beneficiary": {"affiliate_id": payout.affiliate_id, "name": payout.affiliate.name},
    }


def _queue_gateway_request(payout: Payout, endpoint: OutboundEndpoint) -> None:
    """One delivery per submission; the Idempotency-Key header is the reference on every one."""
    payout.submission_count += 1
    outbound.delivery_enqueue(
        endpoint=endpoint,
        event_type=GATEWAY_TOPIC,
        payload=gateway_request_body(payout),
        idempotency_key=payout.gateway_request_key(payout.submission_count),
        url=endpoint.url.rstrip("/") + "/payouts",
        headers={"Idempotency-Key": payout.reference},
        topic=GATEWAY_TOPIC,
        subject=payout.reference,
    )
