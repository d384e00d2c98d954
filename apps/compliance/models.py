"""Compliance facts: licensed jurisdictions, KYC history and self-exclusions.

These tables record what compliance systems and officers said; the rules that act on them
(the accrual gate) read them through selectors.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.models import TimeStampedModel


class Jurisdiction(models.Model):
    """One country (ISO 3166-1 alpha-2) the operator knows about for licensing."""

    code = models.CharField(max_length=2, unique=True, help_text="ISO 3166-1 alpha-2, upper case.")
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(code__regex=r"^[A-Z]{2}$"), name="jurisdiction_code_alpha2"
            )
        ]

    def __str__(self) -> str:
        return f"{self.code} - {self.name}"


class BrandLicence(TimeStampedModel):
    """One brand's licence to take players from one country. No active row: not licensed."""

    brand = models.CharField(max_length=100)
    country = models.ForeignKey(
        Jurisdiction,
        to_field="code",
        db_column="country",
        on_delete=models.PROTECT,
        related_name="licences",
    )
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=255, blank=True, help_text="Licence number or regulator.")

    class Meta:
        ordering = ["brand", "country"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "country"], name="brandlicence_unique_brand_country"
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand} in {self.country_id}"


class LicenceWithdrawal(models.Model):
    """One stretch of time during which a brand's licence in a country was withdrawn.

    Written by `brand_licence_set` when a licence is deactivated (and ended when it is granted
    again), so the accrual gate can tell, for a day in the past, whether the brand was licensed
    then: the period close gates revenue days against these intervals.
    """

    brand = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2.")
    starts_at = models.DateTimeField()
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="When the licence was granted again."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brand", "country", "-starts_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "country"],
                condition=Q(ended_at__isnull=True),
                name="licencewithdrawal_one_open",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("starts_at")),
                name="licencewithdrawal_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "country", "starts_at"], name="licencewithdrawal_idx")
        ]

    def __str__(self) -> str:
        return f"{self.brand} in {self.country} withdrawn from {self.starts_at:%Y-%m-%d}"


class KycRecord(models.Model):
    """One KYC status report for a player, as the source stated it at `updated_at`.

    Every report is kept. Exactly one row per player is current (`is_current`): the one with the
    latest `updated_at`; a report that arrives late (older than the current one) is stored but
    does not change the current state.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="kyc_records"
    )
    status = models.CharField(max_length=20, choices=Status.choices)
    updated_at = models.DateTimeField(help_text="When the source says the status changed.")
    source = models.CharField(max_length=100, help_text="System or person that reported it.")
    is_current = models.BooleanField(default=False)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = "KYC record"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["pending", "passed", "failed"]), name="kyc_status_valid"
            ),
            models.UniqueConstraint(
                fields=["player"], condition=Q(is_current=True), name="kyc_one_current_per_player"
            ),
            # The same report twice (a redelivered event) is one row.
            models.UniqueConstraint(
                fields=["player", "source", "status", "updated_at"], name="kyc_report_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["status"], condition=Q(is_current=True), name="kyc_current_status_idx"
            )
        ]

    def __str__(self) -> str:
        return f"KYC {self.status} for player #{self.player_id} at {self.updated_at:%Y-%m-%d %H:%M}"


class SelfExclusion(models.Model):
    """One self-exclusion of a player under one scheme (operator, GAMSTOP, ...).

    In force from `starts_at` until the earlier of `ends_at` (the planned end, empty when
    indefinite) and `ended_at` (when it was actually ended).
    """

    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="self_exclusions"
    )
    scheme = models.CharField(max_length=64, default="operator")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Planned end; empty = indefinite."
    )
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When it was actually ended.")
    source = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["player", "scheme", "starts_at"], name="selfexclusion_unique_start"
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")),
                name="selfexclusion_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("starts_at")),
                name="selfexclusion_ended_after_start",
            ),
        ]
        indexes = [models.Index(fields=["player", "starts_at"], name="selfexcl_player_start_idx")]

    def __str__(self) -> str:
        return (
            f"Self-exclusion ({self.scheme}) of player #{self.player_id} from "
            f"{self.starts_at:%Y-%m-%d}"
        )


class ExclusionOverrideQuerySet(models.QuerySet):
    def active(self, *, at):
        """Overrides in force at `at`: started, not revoked by then, not expired."""
        return self.filter(
            Q(starts_at__lte=at),
            Q(expires_at__gt=at),
            Q(revoked_at__isnull=True) | Q(revoked_at__gt=at),
        )


class ExclusionOverride(models.Model):
    """A compliance officer's decision that one player's self-exclusion or geo block does not
    stop commission accrual, for a stated reason, until `expires_at`.

    Creating, revoking and every use by the accrual gate are audited.
    """

    class Kind(models.TextChoices):
        EXCLUSION = "exclusion", "Self-exclusion"
        GEO = "geo", "Geo (unlicensed jurisdiction)"

    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="exclusion_overrides"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    reason = models.TextField()
    starts_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revoke_reason = models.TextField(blank=True)

    objects = ExclusionOverrideQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["exclusion", "geo"]), name="override_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("starts_at")), name="override_expires_after_start"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="override_has_reason"),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True)
                | (Q(revoked_by__isnull=False) & ~Q(revoke_reason="")),
                name="override_revocation_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["player", "kind", "expires_at"], name="override_player_kind_idx")
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} override for player #{self.player_id} until "
            f"{self.expires_at:%Y-%m-%d}"
        )
