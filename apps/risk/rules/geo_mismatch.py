"""Geo mismatch: the click came from another country than the one the player registered in.

Definition: at a player's registration, its click carries a country (recorded at the tracking
redirect from the edge's country header, where the deployment sends one; see
AFFILIATEHUB_CLICK_COUNTRY_HEADER) and it differs from the registration country. Clicks
without a country never fire.

Parameters:
- `ignore_countries` (default none): click countries never compared (e.g. VPN exit hubs).
"""

from __future__ import annotations

from apps.risk.rules.base import EventFacts, Finding, param

CODE = "geo_mismatch"
NAME = "Geo mismatch"
SCORE = 15
TRIGGERS = ("registration",)
DEFAULTS = {"ignore_countries": []}


def evaluate(facts: EventFacts, params: dict) -> list[Finding]:
    player = facts.player
    if player.click_id is None or player.affiliate_id is None:
        return []
    click_country = (player.click.country or "").upper()
    ignored = {c.upper() for c in param(params, DEFAULTS, "ignore_countries")}
    if not click_country or click_country in ignored or click_country == player.country:
        return []
    return [
        Finding(
            affiliate_id=player.affiliate_id,
            key=f"{CODE}:{player.pk}",
            summary=(
                f"Player #{player.pk} clicked from {click_country}, registered in {player.country}"
            ),
            players=(player.pk,),
            evidence={
                "click": player.click_id,
                "click_country": click_country,
                "registration_country": player.country,
            },
        )
    ]
