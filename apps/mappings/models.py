"""Which player an identifier in another system (CRM, trading login, payments) belongs to."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class IdentifierMapping(models.Model):
    """One identifier of a player in one external system, e.g. ("mt5-live", "800123") -> player.

    Immutable once created: the system, external id and player never change. A wrong or moved
    identifier is retired (with a reason) and a new mapping is created. Among non-retired rows an
    identifier belongs to at most one player, enforced by a partial unique constraint.
    """

    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="identifier_mappings"
    )
    system = models.CharField(
        max_length=40, help_text="Identifier system: crm, mt5-live, payments, tracking…"
    )
    external_id = models.CharField(max_length=200)
    source = models.CharField(
        max_length=100, blank=True, help_text="What created it (API key, integration, admin)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["system", "external_id", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "external_id"],
                condition=Q(retired_at__isnull=True),
                name="mapping_unique_active_identifier",
            ),
            models.CheckConstraint(
                condition=Q(retired_at__isnull=True) | ~Q(retired_reason=""),
                name="mapping_retired_has_reason",
            ),
        ]
        indexes = [
            models.Index(fields=["player", "system"], name="mapping_player_system_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.system}:{self.external_id}"


class ResolutionStat(models.Model):
    """Identifier lookups in one system during one hour, and how many found no player.

    Counters are split over a few shards so concurrent workers do not all wait on one row lock;
    readers sum the shards. The integration-health dashboard shows misses / lookups.
    """

    system = models.CharField(max_length=40)
    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    shard = models.PositiveSmallIntegerField(default=0)
    lookups = models.BigIntegerField(default=0)
    misses = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-hour", "system", "shard"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "hour", "shard"], name="resolutionstat_unique_bucket"
            ),
            models.CheckConstraint(
                condition=Q(misses__lte=models.F("lookups")),
                name="resolutionstat_misses_le_lookups",
            ),
        ]
        indexes = [models.Index(fields=["hour"], name="resolutionstat_hour_idx")]

    def __str__(self) -> str:
        return f"{self.system} {self.hour:%Y-%m-%d %H}:00 #{self.shard}"
