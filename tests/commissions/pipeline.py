"""Drive accruals through the real inbound pipeline: store an envelope, process it (shared
fixtures)."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
from decimal import Decimal

import pytest

from apps.integrations.inbound.services import (
    inbound_event_process,
    inbound_event_store,
    incoming_event,
)
from apps.integrations.models import Integration
from apps.players.models import Player
from tests.factories import (
    AffiliateFactory,
    BrandLicenceFactory,
    IdentifierMappingFactory,
    PlayerFactory,
)

UTC = dt.UTC
SYSTEMS = {
    "crm": "crm",
    "payments": "payments",
    "trading": "mt5-live",
    "compliance": "compliance",
    "prop": "prop",
}


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class Pipeline:
    """One integration per kind; `send()` stores an event the way the webhook does and processes
    it."""

    _ids = itertools.count(1)

    def __init__(self):
        self.integrations = {
            kind: Integration.objects.get_or_create(
                slug=f"test-{kind}", defaults={"name": kind, "kind": kind, "id_system": system}
            )[0]
            for kind, system in SYSTEMS.items()
        }

    def store(
        self,
        kind: str,
        event_type: str,
        data: dict,
        *,
        at: dt.datetime,
        webhook_id: str | None = None,
    ) -> int:
        envelope = {
            "type": event_type,
            "timestamp": at.isoformat(),
            "data": {key: _jsonable(value) for key, value in data.items()},
        }
        body = json.dumps(envelope, sort_keys=True).encode()
        integration = self.integrations[kind]
        incoming = incoming_event(
            integration_kind=integration.kind,
            webhook_id=webhook_id or f"wh-{next(self._ids)}",
            envelope=envelope,
            body_hash=hashlib.sha256(body).hexdigest(),
        )
        assert incoming.status == "received", incoming.errors
        return inbound_event_store(
            integration_id=integration.pk, event=incoming, source="webhook"
        ).event_id

    def send(
        self,
        kind: str,
        event_type: str,
        data: dict,
        *,
        at: dt.datetime,
        webhook_id: str | None = None,
    ) -> int:
        event_id = self.store(kind, event_type, data, at=at, webhook_id=webhook_id)
        outcome = inbound_event_process(event_id=event_id)
        assert outcome in ("processed", "skipped"), outcome
        return event_id

    # Convenience senders -------------------------------------------------------------------
    def deposit(
        self,
        player_ref: str,
        amount: str,
        at: dt.datetime,
        *,
        currency="EUR",
        deposit_id=None,
        **kw,
    ):
        return self.send(
            "payments",
            "deposit.created",
            {
                "deposit_id": deposit_id or f"D-{next(self._ids)}",
                "player_id": player_ref,
                "amount": amount,
                "currency": currency,
            },
            at=at,
            **kw,
        )

    def kyc(self, player_ref: str, status: str, at: dt.datetime, **kw):
        return self.send(
            "compliance",
            "kyc.updated",
            {"player_id": player_ref, "status": status, "updated_at": at},
            at=at,
            **kw,
        )

    def trade(
        self,
        login: str,
        *,
        deal_id: str,
        position_id: str,
        symbol: str,
        lots: str,
        entry: str,
        closed_at: dt.datetime,
        opened_at: dt.datetime | None = None,
        **kw,
    ):
        data = {
            "platform": "mt5",
            "server": "live-1",
            "login": login,
            "deal_id": deal_id,
            "position_id": position_id,
            "symbol": symbol,
            "volume_lots": lots,
            "entry": entry,
            "profit": "0",
            "currency": "USD",
            "closed_at": closed_at,
        }
        if opened_at:
            data["opened_at"] = opened_at
        return self.send("trading", "trade.closed", data, at=closed_at, **kw)


@pytest.fixture
def pipeline(db):
    return Pipeline()


@pytest.fixture
def licensed(db):
    return BrandLicenceFactory(brand="spinpalace", country__code="DE")


def player_maker():
    """make(affiliate, ...) -> an attributed player with identifiers in every test system (its
    external id is `player.ref`), in a brand licensed in DE."""
    BrandLicenceFactory(brand="spinpalace", country__code="DE")
    counter = itertools.count(1)

    def make(
        affiliate=None,
        *,
        registered_at=dt.datetime(2026, 1, 5, 10, tzinfo=UTC),
        country="DE",
        **kwargs,
    ):
        affiliate = affiliate or AffiliateFactory()
        player = PlayerFactory(
            affiliate=affiliate,
            attribution_status=Player.AttributionStatus.ATTRIBUTED,
            attribution_note="click",
            registered_at=registered_at,
            country=country,
            **kwargs,
        )
        ref = f"P{player.pk}-{next(counter)}"
        for system in SYSTEMS.values():
            IdentifierMappingFactory(player=player, system=system, external_id=ref)
        player.ref = ref
        return player

    return make


@pytest.fixture
def make_player(db, licensed):
    return player_maker()
