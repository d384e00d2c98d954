"""Registration beyond the attribution window: a player registered long after the click.

Definition: at a player's registration, `registered_at - click.created_at` is more than
`window_days` days: a stale token was reused to claim a player the click did not bring.

Parameters:
- `window_days` (default 30): the attribution window; exactly the window does not fire.
"""

from __future__ import annotations

import datetime as dt

from apps.risk.rules.base import EventFacts, Finding, param

CODE = "click_too_late"
NAME = "Registration beyond the attribution window"
SCORE = 20
TRIGGERS = ("registration",)
DEFAULTS = {"window_days": 30}


def evaluate(facts: EventFacts, params: dict) -> list[Finding]:
    player = facts.player
    if player.click_id is None or player.affiliate_id is None:
        return []
    window = dt.timedelta(days=float(param(params, DEFAULTS, "window_days")))
    clicked_at = player.click.created_at
    elapsed = player.registered_at - clicked_at
    if elapsed <= window:
        return []
    return [
        Finding(
            affiliate_id=player.affiliate_id,
            key=f"{CODE}:{player.pk}",
            summary=f"Player #{player.pk} registered {elapsed.days} days after the click "
            f"(window {window.days} days)",
            players=(player.pk,),
            evidence={
                "click": player.click_id,
                "clicked_at": clicked_at.isoformat(),
                "registered_at": player.registered_at.isoformat(),
                "days": round(elapsed.total_seconds() / 86400, 2),
            },
        )
    ]
