"""Telling the outside world about a player's affiliate relationship and conversions.

- `player.attributed` subscriber webhook, so the CRM knows which affiliate brought a player;
- affiliate S2S postbacks (apps.affiliates.postbacks.PostbackTemplate) on registration, first
  deposit and qualified CPA, with the §6 macros URL-encoded; never for a self-excluded player
  (the suppression is audited with its reason).

Why here: firing needs affiliates (templates, clicks), players (attribution, deposits) and
compliance (self-exclusion); mappings is the lowest layer that sees all three, and it owns
registration. The qualified-CPA trigger needs the commission ledger, so it is registered by
apps.commissions (which calls `postback_fire` from this module).

Everything here writes outbound delivery rows inside the caller's transaction (the outbox);
the HTTP requests happen after commit, in the outbound engine.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from urllib.parse import quote

from django.db.models import Q
from django.utils import timezone

from apps.affiliates.postbacks import POSTBACK_MACROS, PostbackTemplate
from apps.compliance.selectors import player_is_self_excluded
from apps.core.audit import audit_record
from apps.integrations.inbound.public import EventContext
from apps.integrations.models import OutboundEndpoint
from apps.integrations.outbound import public as outbound
from apps.mappings.models import IdentifierMapping
from apps.players.facts import Deposit
from apps.players.models import SUB_ID_FIELDS, Player

logger = logging.getLogger(__name__)

Event = PostbackTemplate.Event
_MACRO_RE = re.compile(r"\{(" + "|".join(POSTBACK_MACROS) + r")\}")


def expand_template(template: str, values: dict[str, str]) -> str:
    """Replace the known macros with URL-encoded values (unknown braces are left as they are)."""
    return _MACRO_RE.sub(lambda m: quote(str(values.get(m.group(1), "") or ""), safe=""), template)


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


def _postback_endpoint(template: PostbackTemplate) -> OutboundEndpoint:
    """Each template is an endpoint of its own, so its health (and a 410) is tracked per tracker."""
    name = f"postback-template-{template.pk}"
    endpoint = OutboundEndpoint.objects.filter(name=name).first()
    if endpoint is None:
        endpoint, _ = OutboundEndpoint.objects.get_or_create(
            name=name,
            defaults={"kind": OutboundEndpoint.Kind.POSTBACK, "url": template.url_template[:2000]},
        )
    return endpoint


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
    values = {
        "click_id": player.click_id or "",
        "token": player.tracking_token,
        **{name: getattr(player, name) for name in SUB_ID_FIELDS},
        "event": event,
        "amount": "" if amount is None else str(amount),
        "currency": currency,
        "commission": "" if commission is None else str(commission),
    }
    _, created = outbound.delivery_enqueue(
        endpoint=_postback_endpoint(template),
        event_type=f"postback.{event}",
        payload={"player_id": player.pk, "template_id": template.pk, "values": values},
        idempotency_key=f"postback:{template.pk}:{player.pk}:{event}",
        url=expand_template(template.url_template, values),
        method="GET",
        topic="postback",
        subject=f"player:{player.pk}",
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


def first_deposit_postbacks(ctx: EventContext) -> None:
    """deposit.created (after the fact handler recorded it): the first deposit's postback."""
    for deposit in ctx.recorded(Deposit):
        if not deposit.is_first:
            continue
        postback_fire(
            player=deposit.player,
            event=Event.FIRST_DEPOSIT,
            amount=deposit.amount,
            currency=deposit.currency,
        )
