"""Click-token reuse: one tracking token (one click) attributes more than one player.

Definition: at a player's registration, the click its tracking token named has attributed more
than `max_players` players in all (this one included). Each click is one visit; a token that
registers several accounts was replayed.

Parameters:
- `max_players` (default 1): players one click may attribute.
"""

from __future__ import annotations

from apps.players.models import Player
from apps.risk.rules.base import EventFacts, Finding, param

CODE = "click_token_reuse"
NAME = "Click-token reuse"
SCORE = 30
TRIGGERS = ("registration",)
DEFAULTS = {"max_players": 1}


def evaluate(facts: EventFacts, params: dict) -> list[Finding]:
    player = facts.player
    if player.click_id is None or player.affiliate_id is None:
        return []
    limit = int(param(params, DEFAULTS, "max_players"))
    players = list(
        Player.objects.filter(click_id=player.click_id)
        .order_by("registered_at", "pk")
        .values_list("pk", "registered_at")
    )
    if len(players) <= limit:
        return []
    return [
        Finding(
            affiliate_id=player.affiliate_id,
            key=f"{CODE}:{player.click_id}:{player.pk}",
            summary=f"Click {player.click_id} attributed {len(players)} players (at most {limit})",
            players=tuple(pk for pk, _ in players),
            evidence={
                "click": player.click_id,
                "timeline": [{"player": pk, "registered_at": at.isoformat()} for pk, at in players],
            },
        )
    ]
