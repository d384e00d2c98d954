"""Inbound event handlers that record the compliance facts (WEBHOOKS.md §2): KYC status and
self-exclusions, through the services that own them (apps/compliance/services.py).

Like the player fact handlers (apps/players/handlers.py), each receives the event's player
already resolved; apps/mappings/handlers.py composes them with the resolution and parking, and
the pipeline declaration (apps/pipeline/pipelines.py) runs those compositions.
"""

from __future__ import annotations

from collections.abc import Iterator

from apps.compliance.models import SelfExclusion
from apps.compliance.services import kyc_record_update, self_exclusion_end, self_exclusion_start
from apps.integrations.inbound.public import EventContext
from apps.players.handlers import player_named_by
from apps.players.models import Player


def source(ctx: EventContext) -> str:
    return f"integration:{ctx.integration_slug}"


@player_named_by("player_id")
def kyc_updated(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    kyc_record_update(
        player=player,
        status=data["status"],
        occurred_at=data["updated_at"],
        source=source(ctx),
    )


@player_named_by("player_id")
def self_exclusion_started(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    self_exclusion_start(
        player=player,
        starts_at=data["starts_at"],
        ends_at=data.get("ends_at"),
        scheme=data.get("scheme") or "operator",
        source=source(ctx),
    )


@player_named_by("player_id")
def self_exclusion_ended(ctx: EventContext, player: Player) -> None:
    data = ctx.data
    self_exclusion_end(
        player=player,
        ended_at=data["ended_at"],
        scheme=data.get("scheme"),
        source=source(ctx),
    )


def column_limits() -> Iterator[tuple[str, str, int, None]]:
    """(event type, data field, max length, None) of the columns these handlers fill."""
    scheme = SelfExclusion._meta.get_field("scheme").max_length
    yield "self_exclusion.started", "scheme", scheme, None
    yield "self_exclusion.ended", "scheme", scheme, None
