"""The one way to serialise writes about one player."""

from __future__ import annotations

from apps.core.db import lock_row
from apps.players.models import Player


def player_lock(player: Player) -> None:
    """Lock the player's row (inside the caller's transaction) so that concurrent facts about one
    player whose flags depend on each other (first deposit, current report, KYC, self-exclusion,
    CPA accrual) run one after another. FOR NO KEY UPDATE: inserts that only reference the player
    (their FK check takes KEY SHARE) are not blocked. Raises Player.DoesNotExist if it is gone."""
    if not lock_row(Player, player.pk):
        raise Player.DoesNotExist(f"Player #{player.pk} does not exist.")
