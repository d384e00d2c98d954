"""What the sandbox's simulated systems know: their signing secrets and what they sent."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class SandboxEndpoint(models.Model):
    """One simulated external system (CRM, trading platform, payments, compliance feed).

    It plays the sender, so it keeps its own copy of the Standard Webhooks secret it signs with
    (the hub keeps its copy in IntegrationSecret), exactly as a real source system would.
    """

    slug = models.SlugField(
        max_length=64, unique=True, help_text="The hub integration it sends to."
    )
    kind = models.CharField(max_length=20)
    secret = models.CharField(max_length=200, help_text="whsec_ + base64 key. Never displayed.")
    updated_at = models.DateTimeField(default=timezone.now)
    quiet_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Until then the system sends no webhooks (its events are kept for polling), so "
        "the silence "
        "alerts can be seen firing and then resolving. Set by `manage.py sandbox_quiet`.",
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def is_quiet(self, at=None) -> bool:
        return self.quiet_until is not None and self.quiet_until > (at or timezone.now())


class SandboxSentEvent(models.Model):
    """One event a simulated system produced, and what became of its delivery.

    Every event is kept, delivered or not, so the simulated systems can answer polling
    (`GET {poll url}?since=&until=`) with their full history. `dropped` marks the ones the
    sandbox deliberately never delivered: the events a polling connector should recover.
    """

    integration_slug = models.SlugField(max_length=64)
    webhook_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(
        help_text="The envelope {type, timestamp, data}, as sent (or as it would have been)."
    )
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    dropped = models.BooleanField(
        default=False, help_text="Deliberately never delivered by webhook."
    )
    deliveries = models.PositiveIntegerField(
        default=0, help_text="HTTP deliveries made (duplicates count)."
    )
    last_status = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The hub's last HTTP answer."
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration_slug", "webhook_id"], name="sandbox_sent_unique_webhook_id"
            ),
        ]
        indexes = [
            models.Index(
                fields=["integration_slug", "occurred_at"], name="sandbox_sent_window_idx"
            ),
            models.Index(
                fields=["integration_slug", "occurred_at"],
                name="sandbox_sent_dropped_idx",
                condition=Q(dropped=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.integration_slug} {self.event_type} {self.webhook_id}"


from apps.sandbox.gateway_models import SandboxGatewayConfig, SandboxGatewayPayout  # noqa: E402,F401
