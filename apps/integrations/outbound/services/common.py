"""What the outbound room's services share: task names, constants and OutboundError."""

from __future__ import annotations

import logging

from apps.integrations.outbound.models import (
    DeliveryStatus,
    OutboundEndpoint,
)

logger = logging.getLogger(__name__)

# Task names (apps.integrations.outbound.tasks): queued messages and beat schedules refer to them.
SEND_TASK = "integrations.send_outbound_delivery"
SWEEP_TASK = "integrations.sweep_outbound_deliveries"

Status = DeliveryStatus
Kind = OutboundEndpoint.Kind

RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "AffiliateHub-Webhooks/1.0"


class OutboundError(ValueError):
    """Bad input to an outbound service (shown to the operator as is)."""
