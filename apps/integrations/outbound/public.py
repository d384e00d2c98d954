"""What the outbound room offers other rooms and other apps: every message we send goes through
these (the delivery row is the outbox, written inside the caller's transaction; a Celery task
sends it after commit). `postback_enqueue` is the transport of affiliate postbacks (macros
URL-encoded, one endpoint per template); when to fire one is apps.postbacks'.
`delivery_claim`/`delivery_record` (with an `HttpResult`) are the engine's two steps around an
HTTP request: the sandbox's demo records a receiver's answer with them. Models are imported from
`apps.integrations.models`. `archived_delivery_locations` names the archive files holding
deliveries whose month was archived and dropped (apps/integrations/outbound/retention.py)."""

from apps.integrations.outbound.retention import archived_delivery_locations
from apps.integrations.outbound.services import (
    DeliveryOutcome,
    HttpResult,
    OutboundError,
    delivery_claim,
    delivery_enqueue,
    delivery_record,
    endpoint_create,
    endpoint_health,
    endpoint_update,
    postback_enqueue,
    postback_url_expand,
    register_outcome_handler,
    subscriber_envelope,
    subscriber_event_publish,
)

__all__ = [
    "DeliveryOutcome",
    "HttpResult",
    "OutboundError",
    "archived_delivery_locations",
    "delivery_claim",
    "delivery_enqueue",
    "delivery_record",
    "endpoint_create",
    "endpoint_health",
    "endpoint_update",
    "postback_enqueue",
    "postback_url_expand",
    "register_outcome_handler",
    "subscriber_envelope",
    "subscriber_event_publish",
]
