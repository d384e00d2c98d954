"""Reads of compliance facts, used by registration and by the accrual gate."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q

from apps.compliance.models import BrandLicence, KycRecord, LicenceWithdrawal, SelfExclusion
from apps.players.models import Player


def brand_is_licensed(brand: str, country: str) -> bool:
    """Whether `brand` may take players from `country` (ISO alpha-2): an active licence exists."""
    return BrandLicence.objects.filter(
        brand=brand, country_id=country.upper(), is_active=True
    ).exists()


def brand_is_licensed_at(brand: str, country: str, at: datetime) -> bool:
    """Whether `brand` was licensed in `country` at `at`: it holds (or held) a licence there and
    no withdrawal of it covers `at`."""
    country = country.upper()
    licence = (
        BrandLicence.objects.filter(brand=brand, country_id=country)
        .values_list("is_active", flat=True)
        .first()
    )
    if licence is None:
        return False
    withdrawals = LicenceWithdrawal.objects.filter(brand=brand, country=country)
    if withdrawals.filter(
        Q(starts_at__lte=at), Q(ended_at__isnull=True) | Q(ended_at__gt=at)
    ).exists():
        return False
    # An inactive licence with no withdrawal on record was never granted.
    return licence or withdrawals.exists()


def kyc_current_status(*, player: Player) -> str | None:
    """The player's current KYC status (latest report wins), or None when nothing was reported."""
    return (
        KycRecord.objects.filter(player=player, is_current=True)
        .values_list("status", flat=True)
        .first()
    )


def self_exclusions_in_force(*, at: datetime):
    """Self-exclusions in force at `at`: started, not ended, not past their planned end."""
    return SelfExclusion.objects.filter(
        Q(starts_at__lte=at),
        Q(ended_at__isnull=True) | Q(ended_at__gt=at),
        Q(ends_at__isnull=True) | Q(ends_at__gt=at),
    )


def player_is_self_excluded(*, player: Player, at: datetime) -> bool:
    return self_exclusions_in_force(at=at).filter(player=player).exists()


def player_exclusion_from(*, player: Player, at: datetime) -> SelfExclusion | None:
    """The player's earliest self-exclusion in force at `at` or starting after it (None when
    every exclusion was over by then)."""
    return (
        SelfExclusion.objects.filter(player=player)
        .filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=at),
            Q(ends_at__isnull=True) | Q(ends_at__gt=at),
        )
        .order_by("starts_at")
        .first()
    )
