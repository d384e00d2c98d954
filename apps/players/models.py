"""Players and how each one was attributed."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.models import TimeStampedModel

SUB_ID_FIELDS = ("sub1", "sub2", "sub3", "sub4", "sub5")


class Player(TimeStampedModel):
    """One person registered with one brand, and the affiliate (if any) credited for them.

    Attribution is decided once, at registration: `attributed` (a known click's affiliate,
    campaign, link and sub-ids are copied here), `organic` (no or unknown tracking token) or
    `geo_blocked` (the brand is not licensed in the player's country, so nobody is credited).
    `attribution_note` says why. The player's ids in other systems live in mappings.
    """

    class AttributionStatus(models.TextChoices):
        ATTRIBUTED = "attributed", "Attributed"
        ORGANIC = "organic", "Organic"
        GEO_BLOCKED = "geo_blocked", "Geo-blocked"

    brand = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    registered_at = models.DateTimeField()
    affiliate = models.ForeignKey(
        "affiliates.Affiliate",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="players",
    )
    campaign = models.ForeignKey(
        "affiliates.Campaign",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="players",
    )
    link = models.ForeignKey(
        "affiliates.TrackingLink",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="players",
    )
    click = models.ForeignKey(
        "affiliates.Click", null=True, blank=True, on_delete=models.PROTECT, related_name="players"
    )
    tracking_token = models.CharField(max_length=64, blank=True)
    sub1 = models.CharField(max_length=255, blank=True)
    sub2 = models.CharField(max_length=255, blank=True)
    sub3 = models.CharField(max_length=255, blank=True)
    sub4 = models.CharField(max_length=255, blank=True)
    sub5 = models.CharField(max_length=255, blank=True)
    attribution_status = models.CharField(max_length=20, choices=AttributionStatus.choices)
    attribution_note = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-registered_at", "-id"]
        indexes = [
            models.Index(fields=["brand", "registered_at"], name="player_brand_registered_idx"),
            models.Index(fields=["country"], name="player_country_idx"),
            models.Index(
                fields=["attribution_status", "registered_at"], name="player_attr_registered_idx"
            ),
            models.Index(fields=["registered_at"], name="player_registered_idx"),
            models.Index(fields=["affiliate", "registered_at"], name="player_aff_registered_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(attribution_status__in=["attributed", "organic", "geo_blocked"]),
                name="player_attribution_status_valid",
            ),
            # Only an attributed player names an affiliate; nobody else is ever credited.
            models.CheckConstraint(
                condition=Q(attribution_status="attributed", affiliate__isnull=False)
                | (
                    ~Q(attribution_status="attributed")
                    & Q(affiliate__isnull=True, campaign__isnull=True)
                ),
                name="player_attribution_consistent",
            ),
            models.CheckConstraint(
                condition=Q(country__regex=r"^[A-Z]{2}$"), name="player_country_alpha2"
            ),
        ]

    def __str__(self) -> str:
        return f"Player #{self.pk} ({self.brand}, {self.country})"


from apps.players.fact_keys import RevenueReportKey, TradeKey  # noqa: E402,F401
from apps.players.facts import *  # noqa: E402,F403


class PlayerIdentityValue(models.Model):
    """One identity-bearing value seen for one player: a device, IP or e-mail hash or a payment
    fingerprint, as the sending system keyed-hashed it (WEBHOOKS.md §2; never a raw address,
    e-mail or card number). Recorded once per (player, kind, value) from `player.registered` and
    `deposit.created`; looked up by (kind, value) to find players who share one (apps.risk)."""

    class Kind(models.TextChoices):
        DEVICE = "device_hash", "Device hash"
        IP = "ip_hash", "IP hash"
        EMAIL = "email_hash", "E-mail hash"
        PAYMENT = "payment_fingerprint", "Payment fingerprint"

    player = models.ForeignKey(Player, on_delete=models.PROTECT, related_name="identity_values")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=128)
    first_seen_at = models.DateTimeField()
    source_event_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["player", "kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["player", "kind", "value"], name="identityvalue_unique_per_player"
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["device_hash", "ip_hash", "email_hash", "payment_fingerprint"]
                )
                & ~Q(value=""),
                name="identityvalue_kind_valid",
            ),
        ]
        indexes = [models.Index(fields=["kind", "value"], name="identityvalue_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {mask_identity(self.value)} of player #{self.player_id}"


def mask_identity(value: str) -> str:
    """A shared value as staff and the API see it: enough to tell two apart, not to reuse."""
    value = value or ""
    if len(value) <= 8:
        return "…" + value[-2:]
    return f"{value[:4]}…{value[-4:]}"
