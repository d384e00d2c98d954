"""Self-referral: a referred player shares an identity-bearing value with its own affiliate.

Definition: a player.registered or deposit.created event brings a value (`device_hash`,
`ip_hash`, `email_hash`, `payment_fingerprint`) of a player credited to an affiliate, and the
same kind and value is recorded for that affiliate itself (`AffiliateIdentityValue`: its
registered identity or its payout destination, hashed the way the operator's systems hash
players' values).

Parameters:
- `kinds` (default all four): which kinds count.
"""

from __future__ import annotations

from apps.players.models import mask_identity
from apps.risk.models import AffiliateIdentityValue
from apps.risk.rules.base import EventFacts, Finding, param, value_digest

CODE = "self_referral"
NAME = "Self-referral"
SCORE = 60
TRIGGERS = ("registration", "deposit")
DEFAULTS = {"kinds": ["device_hash", "ip_hash", "email_hash", "payment_fingerprint"]}


def evaluate(facts: EventFacts, params: dict) -> list[Finding]:
    affiliate_id = facts.player.affiliate_id
    kinds = set(param(params, DEFAULTS, "kinds"))
    values = [v for v in facts.identity_values if v.kind in kinds]
    if affiliate_id is None or not values:
        return []
    own = {
        (kind, value): source
        for kind, value, source in AffiliateIdentityValue.objects.filter(
            affiliate_id=affiliate_id,
            kind__in=[v.kind for v in values],
            value__in=[v.value for v in values],
        ).values_list("kind", "value", "source")
    }
    findings = []
    for v in values:
        source = own.get((v.kind, v.value))
        if source is None:
            continue
        findings.append(
            Finding(
                affiliate_id=affiliate_id,
                key=f"{CODE}:{facts.player.pk}:{v.kind}:{value_digest(v.value)}",
                summary=f"Player #{facts.player.pk} shares the affiliate's own "
                f"{v.get_kind_display().lower()} {mask_identity(v.value)}",
                players=(facts.player.pk,),
                evidence={
                    "kind": v.kind,
                    "value": mask_identity(v.value),
                    "affiliate_source": source,
                    "player_registered_at": facts.player.registered_at.isoformat(),
                },
            )
        )
    return findings
