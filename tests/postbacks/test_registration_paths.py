"""Every way a player is registered announces a new attributed player exactly once:
`player.attributed` to subscribers and the affiliate's registration postback (issue 14 §3).

- the `player.registered` event (signed webhooks, batches, polling recovery, the sandbox's
  traffic, replays: all run its pipeline), through the postbacks step after the registration;
- `POST /api/v1/registrations/`, through `player_register_announced`;
- demo seeding, through `player_register_announced`.
Registering a known player again (or adding identifiers to it) announces nothing new."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from django.utils import timezone

from apps.affiliates.postbacks import PostbackTemplate
from apps.integrations.accounts import integration_create
from apps.integrations.inbound.services import (
    inbound_event_process,
    inbound_event_store,
    incoming_event,
    item_hash,
)
from apps.integrations.models import OutboundDelivery
from apps.integrations.outbound import public as outbound
from apps.mappings.services import player_register
from apps.players.models import Player
from apps.sandbox.management.commands import demo_seed
from tests.factories import BrandLicenceFactory, ClickFactory, JurisdictionFactory

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def click(db):
    BrandLicenceFactory(brand="spinpalace", country=JurisdictionFactory(code="DE", name="Germany"))
    click = ClickFactory(link__creative__campaign__brand="spinpalace", sub1="fb")
    outbound.endpoint_create(
        name="crm",
        kind="subscriber",
        url="http://127.0.0.1:9/crm",
        event_types=["player.attributed"],
    )
    PostbackTemplate.objects.create(
        affiliate=click.link.affiliate,
        event="registration",
        url_template="http://127.0.0.1:9/pb?cid={click_id}&e={event}&s1={sub1}",
    )
    return click


def announced() -> list[tuple[str, str]]:
    """(event type, URL) of every announcement written, in order."""
    return list(
        OutboundDelivery.objects.filter(
            event_type__in=["player.attributed", "postback.registration"]
        )
        .order_by("pk")
        .values_list("event_type", "url")
    )


def assert_announced_once(player: Player, click) -> None:
    deliveries = OutboundDelivery.objects.filter(
        event_type__in=["player.attributed", "postback.registration"]
    ).order_by("pk")
    attributed, postback = deliveries
    assert attributed.event_type == "player.attributed"
    assert attributed.payload["data"]["player_id"] == player.pk
    assert attributed.payload["data"]["affiliate_id"] == click.link.affiliate_id
    assert postback.event_type == "postback.registration"
    assert postback.url == f"http://127.0.0.1:9/pb?cid={click.pk}&e=registration&s1=fb"
    assert postback.subject == f"player:{player.pk}"


# --- the player.registered event ------------------------------------------------------------


@pytest.mark.parametrize("source", ["webhook", "poll"])
def test_a_player_registered_event_announces_the_new_player_once(click, source):
    crm = integration_create(slug="crm", kind="crm", id_system="crm")[0]

    def deliver(webhook_id, identifiers):
        envelope = {
            "type": "player.registered",
            "timestamp": T0.isoformat(),
            "data": {
                "player_id": "C-1",
                "registered_at": T0.isoformat(),
                "country": "DE",
                "brand": "spinpalace",
                "tracking_token": click.token,
                "identifiers": identifiers,
            },
        }
        stored = inbound_event_store(
            integration_id=crm.pk,
            source=source,
            event=incoming_event(
                integration_kind="crm",
                webhook_id=webhook_id,
                envelope=envelope,
                body_hash=item_hash(envelope),
            ),
        )
        return inbound_event_process(event_id=stored.event_id)

    assert deliver("m1", {}) == "processed"
    assert_announced_once(Player.objects.get(), click)
    # The same player announced again by its CRM, with a new login: nothing new to announce.
    assert deliver("m2", {"mt5-live": "800123"}) == "processed"
    assert Player.objects.count() == 1 and len(announced()) == 2


# --- the registration API ---------------------------------------------------------------------


def test_the_registration_api_announces_the_new_player_once(click, api_key_factory):
    client = api_key_factory("registrations:write")
    body = {
        "tracking_token": click.token,
        "registered_at": T0.isoformat(),
        "country": "DE",
        "brand": "spinpalace",
        "identifiers": {"crm": "C-1"},
    }
    assert client.post("/api/v1/registrations/", body, format="json").status_code == 201
    assert_announced_once(Player.objects.get(), click)
    assert client.post("/api/v1/registrations/", body, format="json").status_code == 200
    assert len(announced()) == 2


def test_the_registration_api_announces_no_organic_player(click, api_key_factory):
    client = api_key_factory("registrations:write")
    body = {
        "registered_at": T0.isoformat(),
        "country": "DE",
        "brand": "spinpalace",
        "identifiers": {"crm": "C-1"},
    }
    assert client.post("/api/v1/registrations/", body, format="json").status_code == 201
    assert announced() == []


# --- demo seeding -----------------------------------------------------------------------------


def test_demo_seeding_announces_its_attributed_players(click, monkeypatch):
    monkeypatch.setattr(demo_seed, "PLAYER_COUNT", 3)
    monkeypatch.setattr(demo_seed, "COUNTRY_WEIGHTS", {"DE": 1})  # licensed: attributed
    rng = random.Random(7)
    rng.random = lambda: 0.1  # below the seed's 70 %: every player comes through the click
    players = demo_seed.Command()._players(rng, [click], timezone.now())
    assert {p.attribution_status for p in players} == {"attributed"}
    assert [event_type for event_type, _ in announced()] == [
        "player.attributed",
        "postback.registration",
    ] * 3


# --- the bare registration service ------------------------------------------------------------


def test_registering_alone_announces_nothing(click):
    """Announcing is the caller's step (the pipeline's, or `player_register_announced`), so a
    new way of registering players must take one of those two (docs/architecture.md)."""
    player_register(
        tracking_token=click.token,
        registered_at=T0,
        country="DE",
        brand="spinpalace",
        identifiers={"crm": "C-1"},
        source="test",
    )
    assert announced() == []
