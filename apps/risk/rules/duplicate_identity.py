"""Duplicate identity: two or more players share an identity-bearing value.

Definition: when a player.registered or deposit.created event brings a value (`device_hash`,
`ip_hash`, `email_hash`, `payment_fingerprint`) this player did not have yet, and at least
`min_players` players in all (this one included) carry the same kind and value, each affiliate
credited with one of them gets a signal naming its players among them. One signal per player
joining a shared value, so a ring of ten players gives the case all ten.

Parameters:
- `kinds` (default all four): which kinds count;
- `min_players` (default 2): how many players must share the value;
- `max_players` (default 500): the evidence lists at most this many players.
"""

from __future__ import annotations

from collections import defaultdict

from apps.players.models import PlayerIdentityValue, mask_identity
from apps.risk.rules.base import EventFacts, Finding, param, value_digest

CODE = "duplicate_identity"
NAME = "Duplicate identity"
SCORE = 40
TRIGGERS = ("registration", "deposit")
DEFAULTS = {
    "kinds": ["device_hash", "ip_hash", "email_hash", "payment_fingerprint"],
    "min_players": 2,
    "max_players": 500,
}


def evaluate(facts: EventFacts, params: dict) -> list[Finding]:
    kinds = set(param(params, DEFAULTS, "kinds"))
    min_players = int(param(params, DEFAULTS, "min_players"))
    limit = int(param(params, DEFAULTS, "max_players"))
    findings = []
    for new in facts.identity_values:
        if new.kind not in kinds:
            continue
        sharers = list(
            PlayerIdentityValue.objects.filter(kind=new.kind, value=new.value)
            .select_related("player")
            .order_by("first_seen_at", "player_id")[:limit]
        )
        if len(sharers) < min_players:
            continue
        by_affiliate: dict[int, list] = defaultdict(list)
        for row in sharers:
            if row.player.affiliate_id is not None:
                by_affiliate[row.player.affiliate_id].append(row)
        masked = mask_identity(new.value)
        timeline = [
            {
                "player": row.player_id,
                "affiliate": row.player.affiliate_id,
                "registered_at": row.player.registered_at.isoformat(),
                "first_seen_at": row.first_seen_at.isoformat(),
            }
            for row in sharers
        ]
        for affiliate_id, rows in sorted(by_affiliate.items()):
            findings.append(
                Finding(
                    affiliate_id=affiliate_id,
                    key=(
                        f"{CODE}:{affiliate_id}:{new.kind}:{value_digest(new.value)}"
                        f":{facts.player.pk}"
                    ),
                    summary=(
                        f"{len(sharers)} players share {new.get_kind_display().lower()} {masked}"
                    ),
                    players=tuple(row.player_id for row in rows),
                    evidence={
                        "kind": new.kind,
                        "value": masked,
                        "players_sharing": len(sharers),
                        "timeline": timeline,
                    },
                )
            )
    return findings
