"""Click to registration too fast: a player registered sooner after the click than a person can.

Definition: at a player's registration, `registered_at - click.created_at` is under
`min_seconds` (a registration form takes a person longer: a script registered it).

Parameters:
- `min_seconds` (default 10): the shortest plausible time from click to registration; a time
  exactly equal to it does not fire.
"""

from __future__ import annotations

from apps.risk.rules.base import EventFacts, Finding, param

CODE = "click_too_fast"
NAME = "Click to registration too fast"
SCORE = 20
TRIGGERS = ("registration",)
DEFAULTS = {"min_seconds": 10}


def evaluate(facts: EventFacts, params: dict) -> list[Finding]:
    player = facts.player
    if player.click_id is None or player.affiliate_id is None:
        return []
    min_seconds = float(param(params, DEFAULTS, "min_seconds"))
    clicked_at = player.click.created_at
    seconds = (player.registered_at - clicked_at).total_seconds()
    if seconds >= min_seconds:
        return []
    return [
        Finding(
            affiliate_id=player.affiliate_id,
            key=f"{CODE}:{player.pk}",
            summary=(
                f"Player #{player.pk} registered {seconds:.0f} s after the click "
                f"(under {min_seconds:g} s)"
            ),
            players=(player.pk,),
            evidence={
                "click": player.click_id,
                "clicked_at": clicked_at.isoformat(),
                "registered_at": player.registered_at.isoformat(),
                "seconds": seconds,
            },
        )
    ]
