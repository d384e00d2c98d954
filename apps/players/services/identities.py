"""Identity-bearing values a player's events carry (WEBHOOKS.md §2): what risk rules match on."""

from __future__ import annotations

import datetime as dt

from apps.core.db import insert_or_skip
from apps.players.models import Player, PlayerIdentityValue
from apps.players.services.common import checked_aware

IDENTITY_KINDS = tuple(PlayerIdentityValue.Kind.values)


def player_identity_values_record(
    *, player: Player, data: dict, seen_at: dt.datetime, source_event_id: int | None
) -> list[PlayerIdentityValue]:
    """Record the identity-bearing values an event carries for `player` (`device_hash`,
    `ip_hash`, `email_hash`, `payment_fingerprint`: WEBHOOKS.md §2), once per (player, kind,
    value). Returns the values new for this player (what the risk rules look at)."""
    checked_aware(seen_at, "seen_at")
    recorded = []
    for kind in IDENTITY_KINDS:
        value = data.get(kind)
        if not isinstance(value, str) or not value.strip():
            continue
        row = PlayerIdentityValue(
            player=player,
            kind=kind,
            value=value.strip(),
            first_seen_at=seen_at,
            source_event_id=source_event_id,
        )
        if insert_or_skip(row, conflict=("player_id", "kind", "value")):
            recorded.append(row)
    return recorded
