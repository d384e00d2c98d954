"""Recording compliance facts. The inbound pipeline calls these for `kyc.updated` and
`self_exclusion.*` events, so each is safe to call twice with the same input."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.compliance.models import (
    BrandLicence,
    ExclusionOverride,
    Jurisdiction,
    KycRecord,
    LicenceWithdrawal,
    SelfExclusion,
)
from apps.core.audit import audit_record, snapshot
from apps.players.locks import player_lock
from apps.players.models import Player


class ComplianceError(ValueError):
    """A compliance fact was refused (inconsistent dates, unknown status...)."""


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ComplianceError(f"{name} must be timezone-aware.")


def kyc_record_update(
    *,
    player: Player,
    status: str,
    occurred_at: datetime,
    source: str,
    acting_user=None,
) -> KycRecord:
    """Store one KYC report. The latest `occurred_at` wins the current state; an older report
    arriving late is kept as history but does not change it. The same report twice is one row."""
    if status not in KycRecord.Status.values:
        raise ComplianceError(
            f"Unknown KYC status {status!r}; expected one of {', '.join(KycRecord.Status.values)}."
        )
    _require_aware(occurred_at, "occurred_at")
    with transaction.atomic():
        player_lock(player)
        existing = KycRecord.objects.filter(
            player=player, source=source, status=status, updated_at=occurred_at
        ).first()
        if existing is not None:
            return existing
        current = KycRecord.objects.filter(player=player, is_current=True).first()
        becomes_current = current is None or occurred_at >= current.updated_at
        if becomes_current and current is not None:
            current.is_current = False
            current.save(update_fields=["is_current"])
        record = KycRecord.objects.create(
            player=player,
            status=status,
            updated_at=occurred_at,
            source=source,
            is_current=becomes_current,
        )
        audit_record(
            action="kyc.updated" if becomes_current else "kyc.late_report_stored",
            instance=record,
            actor=acting_user,
            actor_label=source,
            before={"status": current.status} if current else None,
            after={
                "status": status,
                "updated_at": occurred_at.isoformat(),
                "is_current": becomes_current,
            },
        )
    return record


def self_exclusion_start(
    *,
    player: Player,
    starts_at: datetime,
    ends_at: datetime | None = None,
    scheme: str = "operator",
    source: str,
    acting_user=None,
) -> SelfExclusion:
    """Record that a player excluded themselves from `starts_at` (its occurrence time) until
    `ends_at` (None: indefinite). Idempotent on (player, scheme, starts_at)."""
    _require_aware(starts_at, "starts_at")
    if ends_at is not None:
        _require_aware(ends_at, "ends_at")
        if ends_at <= starts_at:
            raise ComplianceError("A self-exclusion must end after it starts.")
    with transaction.atomic():
        player_lock(player)
        exclusion, created = SelfExclusion.objects.get_or_create(
            player=player,
            scheme=scheme,
            starts_at=starts_at,
            defaults={"ends_at": ends_at, "source": source},
        )
        if created:
            audit_record(
                action="self_exclusion.started",
                instance=exclusion,
                actor=acting_user,
                actor_label=source,
                after=snapshot(exclusion, ["scheme", "starts_at", "ends_at", "source"]),
            )
    return exclusion


def self_exclusion_end(
    *,
    player: Player,
    ended_at: datetime,
    scheme: str | None = None,
    source: str,
    acting_user=None,
    reason: str = "",
) -> list[SelfExclusion]:
    """End the player's open self-exclusions (of `scheme`, or all) that had started by `ended_at`
    (its occurrence time). Returns the exclusions it ended; none when already ended (idempotent)."""
    _require_aware(ended_at, "ended_at")
    with transaction.atomic():
        player_lock(player)
        open_exclusions = SelfExclusion.objects.filter(
            player=player, ended_at__isnull=True, starts_at__lte=ended_at
        ).order_by("pk")
        if scheme is not None:
            open_exclusions = open_exclusions.filter(scheme=scheme)
        ended = []
        for exclusion in open_exclusions.select_for_update():
            exclusion.ended_at = ended_at
            exclusion.save(update_fields=["ended_at"])
            audit_record(
                action="self_exclusion.ended",
                instance=exclusion,
                actor=acting_user,
                actor_label=source,
                before={"ended_at": None},
                after={"ended_at": ended_at.isoformat()},
                reason=reason,
            )
            ended.append(exclusion)
    return ended


def brand_licence_set(
    *,
    brand: str,
    country: str,
    is_active: bool,
    note: str = "",
    acting_user=None,
    at: datetime | None = None,
) -> BrandLicence:
    """Grant, withdraw or annotate a brand's licence in a country (one row per pair).

    A withdrawal opens a `LicenceWithdrawal` from `at` (default now) and a new grant ends it, so
    accruals for days in the past are gated by whether the brand was licensed on that day.
    """
    country = country.upper()
    at = at or timezone.now()
    _require_aware(at, "at")
    with transaction.atomic():
        if not Jurisdiction.objects.filter(code=country).exists():
            raise ComplianceError(f"Unknown jurisdiction {country!r}; add it first.")
        licence = (
            BrandLicence.objects.select_for_update().filter(brand=brand, country_id=country).first()
        )
        before = snapshot(licence, ["is_active", "note"]) if licence else None
        was_active = licence.is_active if licence else None
        licence, _ = BrandLicence.objects.update_or_create(
            brand=brand, country_id=country, defaults={"is_active": is_active, "note": note}
        )
        if was_active is not None and was_active and not is_active:
            LicenceWithdrawal.objects.get_or_create(
                brand=brand, country=country, ended_at=None, defaults={"starts_at": at}
            )
        elif is_active and not was_active:
            LicenceWithdrawal.objects.filter(
                brand=brand, country=country, ended_at__isnull=True
            ).update(ended_at=at)
        audit_record(
            action="brand_licence.set",
            instance=licence,
            actor=acting_user,
            before=before,
            after=snapshot(licence, ["is_active", "note"]),
        )
    return licence


def exclusion_override_create(
    *,
    player: Player,
    kind: str,
    reason: str,
    expires_at: datetime,
    acting_user,
    starts_at: datetime | None = None,
) -> ExclusionOverride:
    """Let commissions accrue for a self-excluded or geo-blocked player until `expires_at`.
    Compliance staff only; the reason is required and the decision audited."""
    if kind not in ExclusionOverride.Kind.values:
        raise ComplianceError(f"Unknown override kind {kind!r}.")
    if not reason or not reason.strip():
        raise ComplianceError("An override needs a reason.")
    if acting_user is None:
        raise ComplianceError("An override is made by a named member of staff.")
    starts_at = starts_at or timezone.now()
    _require_aware(starts_at, "starts_at")
    _require_aware(expires_at, "expires_at")
    if expires_at <= starts_at:
        raise ComplianceError("An override must expire after it starts.")
    with transaction.atomic():
        player_lock(player)
        override = ExclusionOverride.objects.create(
            player=player,
            kind=kind,
            reason=reason.strip(),
            starts_at=starts_at,
            expires_at=expires_at,
            created_by=acting_user,
        )
        audit_record(
            action="exclusion_override.created",
            instance=override,
            actor=acting_user,
            after=snapshot(override, ["player", "kind", "starts_at", "expires_at"]),
            reason=override.reason,
        )
    return override


def exclusion_override_revoke(
    *, override: ExclusionOverride, reason: str, acting_user
) -> ExclusionOverride:
    """End an override early (audited). Revoking twice changes nothing."""
    if not reason or not reason.strip():
        raise ComplianceError("Revoking an override needs a reason.")
    with transaction.atomic():
        locked = ExclusionOverride.objects.select_for_update().get(pk=override.pk)
        if locked.revoked_at is not None:
            return locked
        locked.revoked_at, locked.revoked_by, locked.revoke_reason = (
            timezone.now(),
            acting_user,
            reason.strip(),
        )
        locked.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
        audit_record(
            action="exclusion_override.revoked",
            instance=locked,
            actor=acting_user,
            before={"revoked_at": None},
            after={"revoked_at": locked.revoked_at.isoformat()},
            reason=locked.revoke_reason,
        )
    return locked
