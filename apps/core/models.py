"""Shared kernel models: base mixins, the audit log and API keys."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from apps.core.addresses import IPAddress, address_allowed, parse_networks, validate_networks


class TimeStampedModel(models.Model):
    """Adds created/updated timestamps (aware, database-assigned on insert)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditLog(models.Model):
    """One change made through a service: who did what to which object, before and after.

    Written in the same transaction as the change it records, so the log never disagrees with
    the data. Rows are append-only.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(
        max_length=200,
        blank=True,
        help_text="API key, integration or system that acted, when not a user.",
    )
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, db_index=True)
    object_id = models.CharField(max_length=64, db_index=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"


class ApiKey(TimeStampedModel):
    """A credential for a system calling our API. Only a SHA-256 hash of the key is stored.

    A key works while it is active, not past `expires_at` (when set) and, when `allowed_ips` is
    not empty, only from those addresses or networks. Its last use (time and address) is
    written at most once a minute (AFFILIATEHUB_API_KEY_LAST_USED_INTERVAL)."""

    class Scope(models.TextChoices):
        REGISTRATIONS_WRITE = "registrations:write", "Create registrations"
        EVENTS_READ = "events:read", "Read inbound events"
        PLAYERS_READ = "players:read", "Read players"
        AFFILIATES_READ = "affiliates:read", "Read affiliates"
        COMMISSIONS_READ = "commissions:read", "Read commissions"
        STATEMENTS_READ = "statements:read", "Read statements"
        PAYOUTS_READ = "payouts:read", "Read payouts"
        RISK_READ = "risk:read", "Read risk cases"

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(
        max_length=16, unique=True, help_text="First characters, to recognise a key."
    )
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = ArrayField(
        models.CharField(max_length=40, choices=Scope.choices), default=list, blank=True
    )
    is_active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="After this moment the key is refused. Empty: never."
    )
    allowed_ips = ArrayField(
        models.CharField(max_length=64),
        default=list,
        blank=True,
        validators=[validate_networks],
        verbose_name="allowed addresses",
        help_text="IP addresses or CIDR networks (IPv4 or IPv6), comma-separated, e.g. "
        "203.0.113.0/24, "
        "2001:db8::/48. Empty: any address.",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(
        null=True, blank=True, verbose_name="last used from"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return self.is_active and scope in self.scopes

    def is_expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def allows_address(self, address: IPAddress | None) -> bool:
        """No allow-list: any address; else only one inside it (an unknown address never)."""
        return not self.allowed_ips or address_allowed(address, parse_networks(self.allowed_ips))
