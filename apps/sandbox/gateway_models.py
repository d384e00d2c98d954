"""The sandbox payment gateway's own records (imported at the bottom of apps/sandbox/models.py).

It behaves as a real gateway would: it keys every payout request on the caller's
Idempotency-Key, pays at most once per key, and reports the result later by webhook.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

from apps.core.display import format_money


class SandboxGatewayConfig(models.Model):
    """How the simulated gateway behaves (one row, pk=1): where it reports results, how often
    payouts fail and with which reasons, how long settling takes."""

    hub_url = models.URLField(
        default="http://127.0.0.1:8000", help_text="Where AffiliateHub listens."
    )
    integration_slug = models.SlugField(
        max_length=64,
        default="sandbox-payments",
        help_text="The hub integration the results are sent to.",
    )
    failure_rate = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=Decimal("0.1"),
        help_text="Share of payouts that fail, 0 to 1.",
    )
    settle_seconds = models.PositiveIntegerField(
        default=3, help_text="Delay before the result webhook."
    )
    failure_reasons = models.JSONField(
        default=list,
        blank=True,
        help_text='[["code", "message"], ...] the gateway picks from when a payout fails; empty = '
        "the built-in list.",
    )

    class Meta:
        verbose_name = "sandbox gateway configuration"
        constraints = [
            models.CheckConstraint(
                condition=Q(failure_rate__gte=0, failure_rate__lte=1), name="sandbox_gw_rate_range"
            )
        ]

    def __str__(self) -> str:
        return f"Sandbox gateway -> {self.hub_url} ({self.failure_rate:.0%} failures)"


class SandboxGatewayPayout(models.Model):
    """One payout the sandbox gateway was asked to make, keyed by the Idempotency-Key.

    `requests` counts the calls under this key (retries included); `payments` how many times
    money moved, which is never more than one.
    """

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    idempotency_key = models.CharField(max_length=200, unique=True)
    reference = models.CharField(max_length=200)
    gateway_reference = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=20, decimal_places=8)
    currency = models.CharField(max_length=4)
    method = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    attempt = models.PositiveIntegerField(
        default=1, help_text="Payment attempts (a failed one may be retried)."
    )
    requests = models.PositiveIntegerField(default=1)
    payments = models.PositiveSmallIntegerField(default=0)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    callbacks_sent = models.PositiveIntegerField(default=0)
    last_callback_status = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(payments__lte=1), name="sandbox_gw_pays_at_most_once"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="sandbox_gw_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} {format_money(self.amount, self.currency)} ({self.status})"
