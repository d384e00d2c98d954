"""The outbound delivery engine (WEBHOOKS.md §6, §7): one write path for every message we send.

Domain apps call, inside their own transaction (the delivery row is the outbox):

- `delivery_enqueue(endpoint=..., event_type=..., payload=..., idempotency_key=...)`: one
  message to one endpoint (payout requests, postbacks), idempotent on the key;
- `subscriber_event_publish(event_type, payload, idempotency_key=...)`: one message to every
  active subscriber of a §6 event type, signed the Standard Webhooks way;
- `postback_enqueue(template_id=..., url_template=..., event=..., player_id=..., values=...)`:
  an affiliate postback, its macros URL-encoded, to the template's own endpoint.

After commit a Celery task sends it, outside any database transaction: a short transaction
claims the row (`SKIP LOCKED`), the HTTP request runs with no transaction open (15 s timeout),
and another short transaction records the attempt and the outcome. Only 2xx is success; other
answers and network errors are retried on the §6 schedule (at once, 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 10 h, with jitter; `Retry-After` honoured), then the delivery is dead-lettered
with an alert. 410 disables the endpoint; so does failing for 5 days.

Senders that must react to the outcome (payouts: "the gateway accepted the request" or "it
never did") register an outcome handler for their `topic` in their AppConfig.ready():
`outbound.register_outcome_handler("payout.request", handler)`. The handler runs inside the
transaction that records the outcome, and must be idempotent.

One module per part (`deliveries`, `postbacks`, `endpoints`, `engine`, `sweeper`, `common`);
callers import from this package.
"""

from apps.integrations.outbound.services.common import (
    RESPONSE_EXCERPT_BYTES,
    SEND_TASK,
    SWEEP_TASK,
    USER_AGENT,
    Kind,
    OutboundError,
    Status,
)
from apps.integrations.outbound.services.deliveries import (
    DeliveryOutcome,
    OutcomeHandler,
    delivery_enqueue,
    enqueue_send,
    new_message_id,
    register_outcome_handler,
    subscriber_envelope,
    subscriber_event_publish,
)
from apps.integrations.outbound.services.endpoints import (
    endpoint_create,
    endpoint_disable,
    endpoint_enable,
    endpoint_health,
    endpoint_update,
    endpoint_url_change_approve,
    endpoint_url_change_reject,
    endpoint_url_change_request,
)
from apps.integrations.outbound.services.engine import (
    DEAD,
    FAILED,
    PAUSED,
    SKIPPED,
    SUCCEEDED,
    Claimed,
    HttpResult,
    build_request,
    deliveries_send_due,
    delivery_claim,
    delivery_record,
    delivery_send,
    http_send,
    parse_retry_after,
    retry_delay,
)
from apps.integrations.outbound.services.postbacks import postback_enqueue, postback_url_expand
from apps.integrations.outbound.services.sweeper import (
    OutboundSweepResult,
    deliveries_sweep,
    delivery_resend,
)

__all__ = [
    "DEAD",
    "FAILED",
    "PAUSED",
    "RESPONSE_EXCERPT_BYTES",
    "SEND_TASK",
    "SKIPPED",
    "SUCCEEDED",
    "SWEEP_TASK",
    "USER_AGENT",
    "Claimed",
    "DeliveryOutcome",
    "HttpResult",
    "Kind",
    "OutboundError",
    "OutboundSweepResult",
    "OutcomeHandler",
    "Status",
    "build_request",
    "deliveries_send_due",
    "deliveries_sweep",
    "delivery_claim",
    "delivery_enqueue",
    "delivery_record",
    "delivery_resend",
    "delivery_send",
    "endpoint_create",
    "endpoint_disable",
    "endpoint_enable",
    "endpoint_health",
    "endpoint_update",
    "endpoint_url_change_approve",
    "endpoint_url_change_reject",
    "endpoint_url_change_request",
    "enqueue_send",
    "http_send",
    "new_message_id",
    "parse_retry_after",
    "postback_enqueue",
    "postback_url_expand",
    "register_outcome_handler",
    "retry_delay",
    "subscriber_envelope",
    "subscriber_event_publish",
]
