"""Models of the `integrations` app: integrations and their signing secrets here; the models of
the three rooms (inbound, polling, outbound) live in their packages and are re-exported below,
so Django registers them with this app (app_label `integrations`, tables and migrations as
before) and other code imports every integrations model from this one module."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.core.models import TimeStampedModel


class Integration(TimeStampedModel):
    """One external system that sends us events (a CRM, a payment gateway, a trading server...).

    `kind` decides which event types it may send (WEBHOOKS.md §2); `id_system` names the
    identifier system its `player_id` values belong to (`crm`, `payments`, `mt5-live`, ...).
    """

    class Kind(models.TextChoices):
        CRM = "crm", "CRM / player database"
        PAYMENTS = "payments", "Payment gateway"
        TRADING = "trading", "Trading platform"
        COMPLIANCE = "compliance", "Compliance feed"
        PROP = "prop", "Prop firm platform"

    slug = models.SlugField(
        max_length=64, unique=True, help_text="The {integration} part of the webhook URL."
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    id_system = models.CharField(
        max_length=64,
        help_text="Identifier system of the player ids this integration sends (crm, payments, "
        "mt5-live...).",
    )
    is_active = models.BooleanField(
        default=True, help_text="Disabled integrations are answered 403."
    )
    payload_schema_version = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["slug"]
        indexes = [models.Index(fields=["kind", "is_active"])]

    def __str__(self) -> str:
        return self.slug


class IntegrationSecretQuerySet(models.QuerySet):
    def usable(self, at=None):
        """Secrets that verify signatures at `at` (default now): no expiry, or expiry ahead."""
        at = at or timezone.now()
        return self.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))


class IntegrationSecret(models.Model):
    """One Standard Webhooks signing secret of an integration.

    The key itself is stored (`whsec_<base64>`) because symmetric HMAC verification needs it;
    it is shown once, when created, and never displayed again. Rotation gives the previous
    secret an expiry (the grace period) so senders can switch over without failures.
    """

    integration = models.ForeignKey(Integration, on_delete=models.CASCADE, related_name="secrets")
    secret = models.CharField(max_length=200, help_text="whsec_ + base64 key. Never displayed.")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: valid until rotated."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = IntegrationSecretQuerySet.as_manager()

    class Meta:
        ordering = ["integration", "-created_at"]
        indexes = [models.Index(fields=["integration", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.integration_id} secret #{self.pk}"

    def is_usable(self, at=None) -> bool:
        at = at or timezone.now()
        return self.expires_at is None or self.expires_at > at


# The rooms' models: imported here so that Django loads them with the app.
from apps.integrations.inbound.models import (  # noqa: E402
    DeadLetterEvent,
    EventArchive,
    EventSource,
    EventStatus,
    InboundConflict,
    InboundEvent,
    InboundEventKey,
    ParkedEvent,
    PublishFailureStat,
    SchemaWarningSeen,
)
from apps.integrations.outbound.models import (  # noqa: E402
    SUBSCRIBER_EVENT_TYPES,
    DeadDelivery,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointUrlChange,
    OutboundDelivery,
    OutboundDeliveryKey,
    OutboundEndpoint,
)
from apps.integrations.polling.models import PollConfig, ReconciliationRun, RecoveredEvent  # noqa: E402

__all__ = [
    "SUBSCRIBER_EVENT_TYPES",
    "DeadDelivery",
    "DeadLetterEvent",
    "DeliveryAttempt",
    "DeliveryStatus",
    "EndpointUrlChange",
    "EventArchive",
    "EventSource",
    "EventStatus",
    "InboundConflict",
    "InboundEvent",
    "InboundEventKey",
    "Integration",
    "IntegrationSecret",
    "OutboundDelivery",
    "OutboundDeliveryKey",
    "OutboundEndpoint",
    "ParkedEvent",
    "PollConfig",
    "PublishFailureStat",
    "ReconciliationRun",
    "RecoveredEvent",
    "SchemaWarningSeen",
]
