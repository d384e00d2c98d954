"""Identifier mappings: resolution, creation, retirement, and player registration.

Registration lives here because it needs players, compliance (geo) and mappings at once.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.affiliates.models import Click
from apps.compliance.selectors import brand_is_licensed
from apps.core.audit import audit_record, snapshot
from apps.integrations.inbound.public import inbound_events_unpark
from apps.mappings import sql
from apps.mappings.models import IdentifierMapping
from apps.players.models import SUB_ID_FIELDS, Player

SYSTEM_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
EXTERNAL_ID_MAX_LENGTH = 200
UNIQUE_ACTIVE_CONSTRAINT = "mapping_unique_active_identifier"
# Spread counter writes over a few rows so workers rarely wait on each other's row lock.
RESOLUTION_STAT_SHARDS = 8


class MappingError(Exception):
    """A mapping operation was refused; the message says why."""


class IdentifierConflict(MappingError):
    """The identifiers belong to another player (or to several players)."""

    def __init__(self, message: str, *, conflicts: list[tuple[str, str]]):
        super().__init__(message)
        self.conflicts = conflicts


class RegistrationInvalid(MappingError):
    pass


@dataclass(frozen=True)
class RegistrationResult:
    player: Player
    created: bool


def _is_unique_active_violation(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == UNIQUE_ACTIVE_CONSTRAINT


# --- resolution -------------------------------------------------------------------------------


def _hour_bucket(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


# Lookups are counted in memory and written by `resolution_stats_flush`, outside the event's
# transaction: a lookup that misses parks the event and rolls its transaction back, and the
# miss must still count. Flushed after each task and request at most every this many seconds
# (and when the process stops), so a worker writes a few rows a second, not one per event.
RESOLUTION_FLUSH_SECONDS = 1.0
_resolution_lock = threading.Lock()
_resolution_pending: dict[tuple[str, datetime], list[int]] = {}
_resolution_flushed_at = 0.0


def resolution_stat_count(*, system: str, hit: bool, at: datetime | None = None) -> None:
    """Count one lookup (and a miss); written by the next `resolution_stats_flush`."""
    key = (system, _hour_bucket(at or timezone.now()))
    with _resolution_lock:
        counts = _resolution_pending.setdefault(key, [0, 0])
        counts[0] += 1
        counts[1] += 0 if hit else 1
    if not connection.in_atomic_block:
        resolution_stats_flush(only_if_due=True)


def resolution_stats_flush(*, only_if_due: bool = False) -> int:
    """Add the lookups counted in this process to ResolutionStat (one atomic upsert, no
    read-then-write race). Returns how many (system, hour) rows it touched."""
    global _resolution_flushed_at
    with _resolution_lock:
        if not _resolution_pending or (
            only_if_due and time.monotonic() - _resolution_flushed_at < RESOLUTION_FLUSH_SECONDS
        ):
            return 0
        pending = sorted(_resolution_pending.items())
        _resolution_pending.clear()
        _resolution_flushed_at = time.monotonic()
    try:
        sql.resolution_counts_add(
            [(system, hour, lookups, misses) for (system, hour), (lookups, misses) in pending],
            shard=os.getpid() % RESOLUTION_STAT_SHARDS,
        )
    except Exception:
        with _resolution_lock:  # not written: count them again next time
            for key, (lookups, misses) in pending:
                counts = _resolution_pending.setdefault(key, [0, 0])
                counts[0] += lookups
                counts[1] += misses
        raise
    return len(pending)


def resolve_player(*, system: str, external_id: str) -> Player | None:
    """The player an identifier belongs to: an exact match on a non-retired mapping, or None.

    Never guesses (no fallback to e-mail, name or a retired mapping). Every lookup is counted
    for the miss-rate dashboard (ResolutionStat, see `resolution_stats_flush`).
    """
    player = sql.active_mapping_player(system=system, external_id=external_id)
    resolution_stat_count(system=system, hit=player is not None)
    return player


# --- creating and retiring mappings -----------------------------------------------------------


def validate_identifier(system: str, external_id: str) -> None:
    if not SYSTEM_PATTERN.match(system or ""):
        raise MappingError(
            f"Identifier system {system!r} must be lower-case letters, digits, '.', '_' or '-'."
        )
    if not external_id or not external_id.strip() or len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        raise MappingError(
            f"External id for {system!r} must be 1-{EXTERNAL_ID_MAX_LENGTH} non-blank characters."
        )


def _insert_mapping(
    *, player: Player, system: str, external_id: str, source: str
) -> IdentifierMapping:
    return IdentifierMapping.objects.create(
        player=player, system=system, external_id=external_id, source=source
    )


def _after_mappings_created(
    mappings: list[IdentifierMapping], *, acting_user, actor_label: str, audit: bool = True
) -> None:
    for mapping in mappings:
        if audit:
            audit_record(
                action="mapping.created",
                instance=mapping,
                actor=acting_user,
                actor_label=actor_label,
                after=snapshot(mapping, ["player", "system", "external_id", "source"]),
            )
        # Events that arrived before the player was known were parked on this identifier.
        inbound_events_unpark(system=mapping.system, external_id=mapping.external_id)


def mapping_create(
    *,
    player: Player,
    system: str,
    external_id: str,
    source: str = "",
    acting_user=None,
    actor_label: str = "",
) -> IdentifierMapping:
    """Map one more identifier to a player. Refused (IdentifierConflict) if it is in use."""
    validate_identifier(system, external_id)
    with transaction.atomic():
        try:
            with transaction.atomic():
                mapping = _insert_mapping(
                    player=player, system=system, external_id=external_id, source=source
                )
        except IntegrityError as exc:
            if not _is_unique_active_violation(exc):
                raise
            raise IdentifierConflict(
                f"{system}:{external_id} is already mapped to a player.",
                conflicts=[(system, external_id)],
            ) from exc
        _after_mappings_created(
            [mapping], acting_user=acting_user, actor_label=actor_label or source
        )
    return mapping


def mapping_retire(
    *, mapping: IdentifierMapping, reason: str, acting_user=None, actor_label: str = ""
) -> IdentifierMapping:
    """Retire a mapping (it no longer resolves). The row stays, with when and why."""
    if not reason.strip():
        raise MappingError("Retiring a mapping needs a reason.")
    with transaction.atomic():
        mapping = IdentifierMapping.objects.select_for_update().get(pk=mapping.pk)
        if mapping.retired_at is not None:
            raise MappingError(f"Mapping {mapping} is already retired.")
        mapping.retired_at = timezone.now()
        mapping.retired_reason = reason
        mapping.save(update_fields=["retired_at", "retired_reason"])
        audit_record(
            action="mapping.retired",
            instance=mapping,
            actor=acting_user,
            actor_label=actor_label,
            before={"retired_at": None},
            after={"retired_at": mapping.retired_at.isoformat()},
            reason=reason,
        )
    return mapping


def mapping_replace(
    *,
    mapping: IdentifierMapping,
    reason: str,
    player: Player | None = None,
    external_id: str | None = None,
    acting_user=None,
) -> IdentifierMapping:
    """Correct a mapping the only allowed way: retire it and create its successor, atomically."""
    with transaction.atomic():
        retired = mapping_retire(mapping=mapping, reason=reason, acting_user=acting_user)
        return mapping_create(
            player=player or retired.player,
            system=retired.system,
            external_id=external_id if external_id is not None else retired.external_id,
            source=f"replaces #{retired.pk}",
            acting_user=acting_user,
        )


# --- registration -----------------------------------------------------------------------------


def _existing_registration(identifiers: dict[str, str]) -> tuple[Player, dict[str, str]] | None:
    """The player the mapped identifiers belong to, and those of `identifiers` not mapped yet.

    None when no identifier is mapped. Identifiers mapped to two different players: conflict.
    """
    mappings = sql.active_mappings_of(list(identifiers.items()))
    if not mappings:
        return None
    player_ids = {player_id for player_id, _, _ in mappings}
    if len(player_ids) > 1:
        mapped = sorted((system, external_id) for _, system, external_id in mappings)
        message = "These identifiers belong to different players: " + ", ".join(
            f"{s}:{e}" for s, e in mapped
        )
        raise IdentifierConflict(message, conflicts=mapped)
    known = {(system, external_id) for _, system, external_id in mappings}
    unmapped = {
        system: external_id
        for system, external_id in identifiers.items()
        if (system, external_id) not in known
    }
    return Player.objects.get(pk=player_ids.pop()), unmapped


def _enrich_registration(
    player: Player,
    identifiers: dict[str, str],
    unmapped: dict[str, str],
    *,
    source: str,
    acting_user,
    allowed: bool,
) -> list[IdentifierMapping]:
    """Add identifiers a known player did not have yet (a trading login after the CRM id, ...).

    Adding is never merging: an identifier that belongs to another player is a conflict, and
    one mapped concurrently to another player surfaces as one through the unique constraint.
    """
    if not unmapped:
        return []
    if not allowed:
        pairs = sorted(unmapped.items())
        raise IdentifierConflict(
            f"Some identifiers already belong to player #{player.pk}; this registration adds "
            + ", ".join(f"{s}:{e}" for s, e in pairs)
            + ". Register them as that player's mappings instead.",
            conflicts=sorted(
                (s, e) for s, e in identifiers.items() if (s, e) not in unmapped.items()
            ),
        )
    try:
        with transaction.atomic():
            mappings = IdentifierMapping.objects.bulk_create(
                [
                    IdentifierMapping(
                        player=player, system=system, external_id=external_id, source=source
                    )
                    for system, external_id in sorted(unmapped.items())
                ]
            )
    except IntegrityError as exc:
        if not _is_unique_active_violation(exc):
            raise
        existing = _existing_registration(unmapped)
        if existing is not None and existing[0].pk == player.pk and not existing[1]:
            return []  # a concurrent call added the same identifiers to the same player
        pairs = sorted(unmapped.items())
        raise IdentifierConflict(
            "Some identifiers were just mapped to another player: "
            + ", ".join(f"{s}:{e}" for s, e in pairs),
            conflicts=pairs,
        ) from exc
    _after_mappings_created(mappings, acting_user=acting_user, actor_label=source)
    return mappings


def _attribution(*, tracking_token: str, brand: str, country: str) -> dict:
    click = None
    if tracking_token:
        click = Click.objects.select_related("link__campaign").filter(token=tracking_token).first()
    fields: dict = {"tracking_token": tracking_token, "click": click}
    if not brand_is_licensed(brand, country):
        return fields | {
            "attribution_status": Player.AttributionStatus.GEO_BLOCKED,
            "attribution_note": f"{brand} is not licensed in {country}; not attributed",
        }
    if click is None:
        note = "unknown tracking token" if tracking_token else "no tracking token"
        return fields | {
            "attribution_status": Player.AttributionStatus.ORGANIC,
            "attribution_note": note,
        }
    link = click.link
    note = f"click #{click.pk} on link {link.code}"
    if link.campaign.brand != brand:
        note += f"; campaign promotes {link.campaign.brand}"
    return fields | {
        "attribution_status": Player.AttributionStatus.ATTRIBUTED,
        "attribution_note": note,
        "affiliate_id": link.affiliate_id,
        "campaign_id": link.campaign_id,
        "link": link,
        **{name: getattr(click, name) for name in SUB_ID_FIELDS},
    }


def player_register(
    *,
    tracking_token: str | None,
    registered_at: datetime,
    country: str,
    brand: str,
    identifiers: dict[str, str],
    source: str,
    acting_user=None,
    link_new_identifiers: bool = False,
) -> RegistrationResult:
    """Create a player with its attribution and identifier mappings, in one transaction.

    - The tracking token resolves to a click, whose link gives the affiliate, campaign and
      sub-ids. No token or an unknown one: organic. Brand not licensed in the country:
      geo_blocked, nobody credited.
    - Idempotent: when every identifier already maps to one player, that player is returned
      (created=False). Identifiers of two different players: IdentifierConflict.
    - Some identifiers known, others new: with link_new_identifiers (inbound player.registered,
      e.g. a trading platform announcing a new login for a known CRM player) the new ones are
      added to that player, audited, and it is returned (created=False); without it (the
      registration API, which creates players) it is an IdentifierConflict.
    - Race-safe: two identical concurrent calls make one player; the loser hits the unique
      mapping constraint inside a savepoint and returns the winner's player.
    - Each new mapping un-parks inbound events that were waiting for that identifier.
    - Announcing a new player (`player.attributed`, the registration postback) is apps.postbacks'
      job: the `player.registered` pipeline's step after this one, or
      `apps.postbacks.services.player_register_announced` (registration API, demo seeding).
    """
    country = (country or "").upper()
    token = (tracking_token or "").strip()
    if not identifiers:
        raise RegistrationInvalid("A registration needs at least one identifier.")
    for system, external_id in identifiers.items():
        try:
            validate_identifier(system, external_id)
        except MappingError as exc:
            raise RegistrationInvalid(str(exc)) from exc
    if registered_at.tzinfo is None or registered_at.utcoffset() is None:
        raise RegistrationInvalid("registered_at must be timezone-aware.")

    with transaction.atomic():
        existing = _existing_registration(identifiers)
        if existing is not None:
            player, unmapped = existing
            _enrich_registration(
                player,
                identifiers,
                unmapped,
                source=source,
                acting_user=acting_user,
                allowed=link_new_identifiers,
            )
            return RegistrationResult(player=player, created=False)
        # Brand and country are needed to create a player (licensing), not to recognise one.
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise RegistrationInvalid(f"Country {country!r} is not an ISO 3166-1 alpha-2 code.")
        if not brand:
            raise RegistrationInvalid("A registration needs a brand.")
        try:
            with transaction.atomic():
                player = Player.objects.create(
                    brand=brand,
                    country=country,
                    registered_at=registered_at,
                    **_attribution(tracking_token=token, brand=brand, country=country),
                )
                mappings = IdentifierMapping.objects.bulk_create(
                    [
                        IdentifierMapping(
                            player=player, system=system, external_id=external_id, source=source
                        )
                        for system, external_id in sorted(identifiers.items())
                    ]
                )
        except IntegrityError as exc:
            if not _is_unique_active_violation(exc):
                raise
            # A concurrent registration won the race; it has committed by now (the unique index
            # made us wait for it). The same registration: return its player; else a conflict.
            existing = _existing_registration(identifiers)
            if existing is None:
                raise
            player, unmapped = existing
            _enrich_registration(
                player,
                identifiers,
                unmapped,
                source=source,
                acting_user=acting_user,
                allowed=link_new_identifiers,
            )
            return RegistrationResult(player=player, created=False)
        # One audit row for the whole registration: it names the identifiers it mapped.
        audit_record(
            action="player.registered",
            instance=player,
            actor=acting_user,
            actor_label=source,
            after=snapshot(player) | {"identifiers": dict(sorted(identifiers.items()))},
        )
        _after_mappings_created(mappings, acting_user=acting_user, actor_label=source, audit=False)
    return RegistrationResult(player=player, created=True)
