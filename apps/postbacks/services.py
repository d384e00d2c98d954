"""Telling the outside world about a player's affiliate relationship and conversions.

- `player.attributed` subscriber webhook, so the CRM knows which affiliate brought a player;
- affiliate S2S postbacks (apps.affiliates.postbacks.PostbackTemplate) on registration, first
  deposit and qualified CPA: the campaign's template over the affiliate-wide one; never for a
  self-excluded player (the suppression is audited with its reason).

Why here: deciding needs affiliates (templates), players (attribution, deposits), compliance
(self-exclusion), mappings (registration, identifiers) and commissions (the qualified CPA line);
this app sits just above all of them. The wire part (macros URL-encoded, the per-template
endpoint, the GET delivery and its idempotency key) is the outbound room's `postback_enqueue`.

Everything here writes outbound delivery rows inside the caller's transaction (the outbox);
the HTTP requests happen after commit, in the outbound engine.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.affiliates.postbacks import PostbackTemplate
from apps.compliance.selectors import player_is_self_excluded
from apps.core.audit import audit_record
from apps.integrations.outbound import public as outbound
from apps.mappings.models import IdentifierMapping
from apps.mappings.services import RegistrationResult, player_register
from apps.players.models import SUB_ID_FIELDS, Player

logger = logging.getLogger(__name__)

Event = PostbackTemplate.Event


def _template_for(player: Player, event: str) -> PostbackTemplate | None:
    """The campaign's template for the event, else the affiliate-wide one."""
    candidates = PostbackTemplate.objects.filter(
        affiliate_id=player.affiliate_id, event=event, is_active=True
    ).filter(Q(campaign_id=player.campaign_id) | Q(campaign__isnull=True))
    chosen = None
    for template in candidates:
        if template.campaign_id is not None:
            return template
        chosen = template
    return chosen


def postback_fire(
    *,
    player: Player,
    event: str,
    amount: Decimal | None = None,
    currency: str = "",
    commission: Decimal | None = None,
) -> str:
    """Queue the affiliate's postback for one conversion of one player, once.

    Returns what happened: "queued", "duplicate", "no_template", "not_attributed" or
    "suppressed" (self-excluded: audited with the reason, nothing sent).
    """
    if event not in Event.values:
        raise ValueError(f"Unknown postback event {event!r}.")
    if player.affiliate_id is None:
        return "not_attributed"
    template = _template_for(player, event)
    if template is None:
        return "no_template"
    if player_is_self_excluded(player=player, at=timezone.now()):
        reason = (
            f"{event} postback to affiliate {player.affiliate_id} suppressed: the player is "
            "self-excluded."
        )
        audit_record(
            action="postback.suppressed",
            instance=player,
            actor_label="postbacks",
            reason=reason,
            after={"event": event, "template_id": template.pk},
        )
        logger.info("Player %s: %s", player.pk, reason)
        return "suppressed"
    # Every macro of apps.affiliates.postbacks.POSTBACK_MACROS, in that order.
    values = {
        "click_id": player.click_id or "",
        "token": player.tracking_token,
        **{name: getattr(player, name) for name in SUB_ID_FIELDS},
        "event": event,
        "amount": "" if amount is None else str(amount),
        "currency": currency,
        "commission": "" if commission is None else str(commission),
    }
    created = outbound.postback_enqueue(
        template_id=template.pk,
        url_template=template.url_template,
        event=event,
        player_id=player.pk,
        values=values,
    )
    return "queued" if created else "duplicate"


def player_attributed_publish(*, player: Player) -> None:
    """After a registration: tell subscribers (the CRM) about the affiliate relationship, and
    fire the affiliate's registration postback. Organic and geo-blocked players: nothing."""
    if player.attribution_status != Player.AttributionStatus.ATTRIBUTED:
        return
    identifiers = dict(
        IdentifierMapping.objects.filter(player=player, retired_at__isnull=True).values_list(
            "system", "external_id"
        )
    )
    outbound.subscriber_event_publish(
        "player.attributed",
        {
            "player_id": player.pk,
            "identifiers": identifiers,
            "brand": player.brand,
            "country": player.country,
            "registered_at": player.registered_at.isoformat(),
            "affiliate_id": player.affiliate_id,
            "campaign_id": player.campaign_id,
            "tracking_token": player.tracking_token or None,
            **{name: getattr(player, name) or None for name in SUB_ID_FIELDS},
        },
        idempotency_key=f"player.attributed:{player.pk}",
        occurred_at=player.registered_at,
    )
    postback_fire(player=player, event=Event.REGISTRATION)


def player_register_announced(**registration) -> RegistrationResult:
    """`apps.mappings.services.player_register`, and for a new player `player.attributed` and the
    registration postback, in one transaction: registration outside the inbound pipeline (the
    registration API, demo seeding). The `player.registered` pipeline announces through its
    own step (apps.postbacks.handlers.player_registered)."""
    with transaction.atomic():
        result = player_register(**registration)
        if result.created:
            player_attributed_publish(player=result.player)
    return result
