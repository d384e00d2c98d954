"""How payouts hear from the gateway: `payout.confirmed` / `payout.failed` inbound events (the
inbound pipeline, one transaction per event) and the outcome of our own request delivery.

Both orders are normal: the gateway's webhook may arrive before our delivery recorded the
gateway's 2xx, and either may arrive twice. The services are idempotent and accept the moves
that follow (approved -> completed directly; a late "accepted" for a completed payout is ignored).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from apps.integrations.inbound.public import EventContext, RejectEvent
from apps.integrations.outbound.public import DeliveryOutcome
from apps.payouts import services
from apps.payouts.models import Payout

logger = logging.getLogger(__name__)


def payout_confirmed(ctx: EventContext) -> None:
    try:
        services.payout_mark_completed(
            reference=ctx.data["payout_reference"],
            gateway_reference=ctx.data.get("gateway_reference", ""),
            actor_label=f"integration:{ctx.integration_slug} event {ctx.event_id}",
        )
    except (services.PayoutNotFound, services.PayoutTransitionRefused) as exc:
        # The gateway says money moved for a payout the hub cannot complete (unknown, cancelled,
        # not approved). Retrying cannot change that: to the dead letters at once, for Finance.
        raise RejectEvent(
            f"The gateway confirmed payout {ctx.data['payout_reference']!r}, but {exc} "
            "Check the payment with the gateway before replaying this event."
        ) from exc


def payout_failed(ctx: EventContext) -> None:
    try:
        services.payout_mark_failed(
            reference=ctx.data["payout_reference"],
            reason_code=ctx.data.get("reason_code", "") or "",
            message=ctx.data.get("message", "") or "",
            actor_label=f"integration:{ctx.integration_slug} event {ctx.event_id}",
        )
    except (services.PayoutNotFound, services.PayoutTransitionRefused) as exc:
        raise RejectEvent(
            f"The gateway failed payout {ctx.data['payout_reference']!r}, but {exc}"
        ) from exc


def column_limits() -> Iterator[tuple[str, str, int, None]]:
    """What these handlers store, so the door refuses what a column cannot hold (422, not
    retries); declared through apps/pipeline/pipelines.py."""
    reference = Payout._meta.get_field("gateway_reference").max_length
    for event_type in ("payout.confirmed", "payout.failed"):
        yield event_type, "gateway_reference", reference, None


def gateway_request_outcome(outcome: DeliveryOutcome) -> None:
    """Our payout request was accepted (2xx) or never will be (dead letter)."""
    reference = outcome.subject
    submission = outcome.idempotency_key.rsplit(":", 1)[-1]
    current = (
        Payout.objects.filter(reference=reference)
        .values_list("submission_count", flat=True)
        .first()
    )
    if current is None:
        logger.error(
            "Gateway request delivery %s names unknown payout %s.", outcome.delivery_id, reference
        )
        return
    if submission != str(current):
        logger.info("Outcome of superseded request %s of payout %s ignored.", submission, reference)
        return
    try:
        if outcome.status == "succeeded":
            services.payout_mark_submitted(reference=reference)
        elif outcome.status == "dead":
            what = f"HTTP {outcome.response_code}" if outcome.response_code else outcome.error
            services.payout_mark_failed(
                reference=reference,
                reason_code="gateway_unreachable"
                if outcome.response_code is None
                else f"gateway_http_{outcome.response_code}",
                message="The gateway never accepted the payout request (delivery "
                f"{outcome.delivery_id}; last: {what}).",
                actor_label="outbound engine",
            )
    except services.PayoutTransitionRefused:
        # The payout moved on meanwhile (cancelled, completed): nothing to record here.
        logger.info(
            "Outcome %s of payout %s request not applied: payout already moved on.",
            outcome.status,
            reference,
        )
