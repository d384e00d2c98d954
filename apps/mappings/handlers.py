"""Inbound event handlers that record the business facts each canonical event carries.

One handler per event type (WEBHOOKS.md §2). Each resolves the event's player through its
identifier mapping in the sending integration's identifier system (`ctx.id_system`) and calls
the one service that owns the fact. An identifier that is not mapped yet parks the event
(`ParkEvent`); mapping it later (registration API or a `player.registered` event) re-runs it.
Handlers hold no business rules: idempotency, first-deposit detection, restatements and the
like live in the services, so the admin, the API and the pipeline behave the same.

They live in mappings because mappings owns resolution and parking and sits above players and
compliance, whose services they call.

Reactions to the same events (postbacks, commissions) come after these handlers in each event
type's pipeline (apps/pipeline/pipelines.py, the one declaration of what runs, in which order),
so a reaction runs after the fact is recorded, in the same transaction. Each fact handler passes
what this
delivery recorded on with `ctx.record(...)` (a refund: the refunded purchase) and the reaction
reads `ctx.recorded(<Fact>)`, without a query; a duplicate delivery records nothing new, so the
reaction finds nothing and acts once. When the player is unknown the event parks before any
reaction runs, and everything is re-run together once the player is mapped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from apps.compliance import handlers as compliance_facts
from apps.integrations.inbound.public import EventContext, Handler, ParkEvent, RejectEvent
from apps.mappings.models import IdentifierMapping
from apps.mappings.selectors import identifier_is_mapped
from apps.mappings.services import (
    SYSTEM_PATTERN,
    IdentifierConflict,
    RegistrationInvalid,
    player_register,
    resolve_player,
)
from apps.players import handlers as player_facts
from apps.players.handlers import PlayerFactHandler
from apps.players.models import Player
from apps.players.services import player_identity_values_record


def _player(ctx: EventContext, external_id: str) -> Player:
    """The player `external_id` (in the sender's identifier system) belongs to, or park."""
    player = resolve_player(system=ctx.id_system, external_id=external_id)
    if player is None:
        system = ctx.id_system
        raise ParkEvent(
            system,
            external_id,
            f"No player is mapped to {system}:{external_id} yet ({ctx.event_type}).",
            # Asked again under the park lock: a registration may have committed since.
            known_now=lambda: identifier_is_mapped(system=system, external_id=external_id),
        )
    return player


def _source(ctx: EventContext) -> str:
    return f"integration:{ctx.integration_slug}"


def player_registered(ctx: EventContext) -> None:
    """Same service as the registration API; a known player gains the identifiers it lacked."""
    data = ctx.data
    try:
        result = player_register(
            tracking_token=data.get("tracking_token"),
            registered_at=data["registered_at"],
            country=data.get("country", ""),
            brand=data.get("brand", ""),
            identifiers={**data.get("identifiers", {}), ctx.id_system: data["player_id"]},
            source=_source(ctx),
            link_new_identifiers=True,
        )
    except (IdentifierConflict, RegistrationInvalid) as exc:
        # Retrying cannot change the answer: straight to the dead letters, for a person.
        raise RejectEvent(str(exc)) from exc
    if result.created:
        ctx.record(result.player)
    # Identity-bearing values (WEBHOOKS.md §2), for the risk rules after this handler.
    ctx.record(
        *player_identity_values_record(
            player=result.player,
            data=data,
            seen_at=data["registered_at"],
            source_event_id=ctx.event_id,
        )
    )


def resolved(fact_handler: PlayerFactHandler) -> Handler:
    """The pipeline's handler for a fact: resolve the player named by the handler's
    `player_field` (park when unknown), then let the fact's own app record it."""
    field = fact_handler.player_field

    def handler(ctx: EventContext) -> None:
        fact_handler(ctx, _player(ctx, ctx.data[field]))

    handler.__name__ = handler.__qualname__ = fact_handler.__name__
    handler.__doc__ = (
        f"Resolve data[{field!r}], then {fact_handler.__module__}.{fact_handler.__name__}."
    )
    handler.__wrapped__ = fact_handler
    return handler


# The fact handlers the pipelines run (apps/pipeline/pipelines.py): each resolves its player here
# and records its fact in the app that owns it.
deposit_created = resolved(player_facts.deposit_created)
revenue_reported = resolved(player_facts.revenue_reported)
trade_closed = resolved(player_facts.trade_closed)
purchase_created = resolved(player_facts.purchase_created)
purchase_refunded = resolved(player_facts.purchase_refunded)
chargeback_created = resolved(player_facts.chargeback_created)
kyc_updated = resolved(compliance_facts.kyc_updated)
self_exclusion_started = resolved(compliance_facts.self_exclusion_started)
self_exclusion_ended = resolved(compliance_facts.self_exclusion_ended)


FACT_EVENT_TYPES = (
    "deposit.created",
    "revenue.reported",
    "trade.closed",
    "purchase.created",
    "purchase.refunded",
    "chargeback.created",
    "kyc.updated",
    "self_exclusion.started",
    "self_exclusion.ended",
)


def column_limits() -> Iterator[tuple[str, str, int, re.Pattern | None]]:
    """(event type, field, max length, key pattern) of what the fact handlers store, which the
    door enforces (declared through apps/pipeline/pipelines.py). A `player_id` (a trading
    `login`) is looked up as a mapping's external id, so a longer one could never resolve and
    would park until it is dead-lettered: the shorter of the two limits applies."""
    mapped_id = IdentifierMapping._meta.get_field("external_id").max_length
    limits: dict[tuple[str, str], int] = {
        ("player.registered", "player_id"): mapped_id,
        **{(event_type, "player_id"): mapped_id for event_type in FACT_EVENT_TYPES},
    }
    limits[("trade.closed", "login")] = limits.pop(("trade.closed", "player_id"))
    for event_type, name, max_length, _ in (
        *player_facts.column_limits(),
        *compliance_facts.column_limits(),
    ):
        key = (event_type, name)
        limits[key] = min(limits.get(key, max_length), max_length)
    for (event_type, name), max_length in limits.items():
        yield event_type, name, max_length, None
    # {system: id}: each becomes an identifier mapping.
    yield ("player.registered", "identifiers", mapped_id, SYSTEM_PATTERN)
