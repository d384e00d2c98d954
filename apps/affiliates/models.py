"""Affiliates, their sub-affiliate tree, campaigns, creatives, tracking links and clicks."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel
from apps.core.money import CurrencyField


class Affiliate(TimeStampedModel):
    """One partner who sends players to the operator and is paid commission for them.

    A sub-affiliate points at its parent; the parent may earn an override on its subs.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        BANNED = "banned", "Banned"

    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sub_affiliates",
        help_text="Set for a sub-affiliate: the affiliate that recruited it.",
    )
    payout_currency = CurrencyField(default="EUR")

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "suspended", "banned"]),
                name="affiliate_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("pk")), name="affiliate_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Campaign(TimeStampedModel):
    """One affiliate's promotion of one brand; clicks and players are grouped by it."""

    affiliate = models.ForeignKey(Affiliate, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    brand = models.CharField(max_length=100, db_index=True)

    class Meta:
        ordering = ["affiliate__name", "name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate", "name"], name="campaign_unique_name_per_affiliate"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.brand})"


class Creative(TimeStampedModel):
    """One banner, landing page or text used in a campaign; compliance approves it before use."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="creatives")
    name = models.CharField(max_length=200)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "approved", "rejected"]),
                name="creative_status_valid",
            ),
            # A decision always names its reviewer and time; a pending creative has neither.
            models.CheckConstraint(
                condition=Q(status="pending", reviewed_at__isnull=True)
                | (~Q(status="pending") & Q(reviewed_at__isnull=False)),
                name="creative_review_consistent",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TrackingLink(TimeStampedModel):
    """One short URL an affiliate publishes (`/t/<code>/`); each visit records a Click."""

    code = models.CharField(max_length=32, unique=True)
    affiliate = models.ForeignKey(
        Affiliate, on_delete=models.PROTECT, related_name="tracking_links"
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="tracking_links")
    creative = models.ForeignKey(Creative, on_delete=models.PROTECT, related_name="tracking_links")
    landing_url = models.URLField(max_length=2000)
    is_active = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.code


class Click(models.Model):
    """One visit to a tracking link. Its token travels to the landing page and back with the
    registration, which is how a player is attributed. The visitor's IP is kept only as a salted
    HMAC, never in clear."""

    link = models.ForeignKey(TrackingLink, on_delete=models.PROTECT, related_name="clicks")
    token = models.CharField(max_length=64, unique=True)
    sub1 = models.CharField(max_length=255, blank=True)
    sub2 = models.CharField(max_length=255, blank=True)
    sub3 = models.CharField(max_length=255, blank=True)
    sub4 = models.CharField(max_length=255, blank=True)
    sub5 = models.CharField(max_length=255, blank=True)
    ip_hash = models.CharField(max_length=64, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    country = models.CharField(
        max_length=2,
        blank=True,
        help_text="ISO 3166-1 alpha-2 the edge located the visitor in, where it sends one.",
    )
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["link", "-created_at"], name="click_link_created_idx")]

    def __str__(self) -> str:
        return f"click {self.token[:8]}… on {self.link_id}"


from apps.affiliates.postbacks import PostbackTemplate  # noqa: E402,F401
