import pytest

from apps.core.models import AuditLog
from apps.integrations.models import InboundEvent
from apps.mappings.models import IdentifierMapping
from apps.mappings.services import (
    IdentifierConflict,
    RegistrationInvalid,
    player_register,
    resolve_player,
)
from apps.players.models import Player
from tests.factories import BrandLicenceFactory, IdentifierMappingFactory, JurisdictionFactory
from tests.mappings.conftest import REGISTERED_AT

pytestmark = pytest.mark.django_db


def register(**overrides):
    kwargs = {
        "tracking_token": None,
        "registered_at": REGISTERED_AT,
        "country": "DE",
        "brand": "spinpalace",
        "identifiers": {"crm": "C-1", "mt5-live": "800123"},
        "source": "test",
    }
    return player_register(**(kwargs | overrides))


def test_token_attributes_affiliate_campaign_link_and_sub_ids(licensed_de, click):
    result = register(tracking_token=click.token)
    player = result.player
    assert result.created is True
    assert player.attribution_status == Player.AttributionStatus.ATTRIBUTED
    assert (player.affiliate, player.campaign, player.link, player.click) == (
        click.link.affiliate,
        click.link.campaign,
        click.link,
        click,
    )
    assert (player.sub1, player.sub2, player.sub3, player.sub5) == ("fb", "adset-7", "", "geo-de")
    assert player.tracking_token == click.token
    assert (player.brand, player.country, player.registered_at) == (
        "spinpalace",
        "DE",
        REGISTERED_AT,
    )
    assert resolve_player(system="crm", external_id="C-1") == player
    assert resolve_player(system="mt5-live", external_id="800123") == player


def test_no_token_is_organic(licensed_de):
    player = register().player
    assert (player.attribution_status, player.attribution_note) == ("organic", "no tracking token")
    assert player.affiliate is None and player.campaign is None and player.click is None


def test_unknown_token_is_organic_with_note(licensed_de):
    player = register(tracking_token="not-a-real-token").player
    assert (player.attribution_status, player.attribution_note) == (
        "organic",
        "unknown tracking token",
    )
    assert player.affiliate is None and player.tracking_token == "not-a-real-token"


def test_unlicensed_country_is_geo_blocked_and_unattributed(licensed_de, click):
    player = register(tracking_token=click.token, country="fr").player
    assert player.country == "FR"
    assert player.attribution_status == Player.AttributionStatus.GEO_BLOCKED
    assert player.attribution_note == "spinpalace is not licensed in FR; not attributed"
    assert (player.affiliate, player.campaign, player.link, player.sub1) == (None, None, None, "")


def test_inactive_licence_is_geo_blocked(licensed_de, click):
    BrandLicenceFactory(
        brand="spinpalace",
        country=JurisdictionFactory(code="NL", name="Netherlands"),
        is_active=False,
    )
    player = register(tracking_token=click.token, country="NL").player
    assert player.attribution_status == "geo_blocked" and player.affiliate is None


def test_same_registration_again_returns_the_same_player(licensed_de, click):
    first = register(tracking_token=click.token)
    again = register(tracking_token=None, identifiers={"mt5-live": "800123", "crm": "C-1"})
    assert (again.player.pk, again.created) == (first.player.pk, False)
    assert Player.objects.count() == 1 and IdentifierMapping.objects.count() == 2
    # A subset of the identifiers is the same registration too.
    assert register(identifiers={"crm": "C-1"}).player.pk == first.player.pk


def test_identifier_of_another_player_conflicts(licensed_de):
    other = IdentifierMappingFactory(system="crm", external_id="C-1").player
    with pytest.raises(IdentifierConflict) as exc:
        register(identifiers={"crm": "C-1", "mt5-live": "800123"})
    assert exc.value.conflicts == [("crm", "C-1")]
    assert Player.objects.exclude(pk=other.pk).count() == 0
    assert not IdentifierMapping.objects.filter(system="mt5-live").exists()


def test_identifiers_of_two_players_conflict(licensed_de):
    IdentifierMappingFactory(system="crm", external_id="C-1")
    IdentifierMappingFactory(system="mt5-live", external_id="800123")
    with pytest.raises(IdentifierConflict, match="different players"):
        register()


def test_registration_is_audited(licensed_de):
    player = register().player
    row = AuditLog.objects.get(action="player.registered", object_id=str(player.pk))
    assert row.actor_label == "test"
    assert row.after["identifiers"] == {"crm": "C-1", "mt5-live": "800123"}
    assert AuditLog.objects.count() == 1  # the registration row names its mappings


def test_registration_unparks_events_waiting_for_its_identifiers(licensed_de, parked_event):
    waiting = parked_event(system="mt5-live", external_id="800123")
    unrelated = parked_event(system="mt5-live", external_id="999")
    register()
    waiting.refresh_from_db()
    unrelated.refresh_from_db()
    assert waiting.status == InboundEvent.Status.RECEIVED
    assert unrelated.status == InboundEvent.Status.PARKED


def test_idempotent_repeat_does_not_unpark_again(licensed_de, parked_event):
    register()
    event = parked_event(system="crm", external_id="C-1")  # parked after the mapping existed
    register()
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PARKED


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"identifiers": {}}, "at least one identifier"),
        ({"identifiers": {"Bad System": "1"}}, "lower-case"),
        ({"country": "Germany"}, "alpha-2"),
        ({"registered_at": REGISTERED_AT.replace(tzinfo=None)}, "timezone-aware"),
        ({"brand": ""}, "brand"),
    ],
)
def test_invalid_registration_is_refused(licensed_de, overrides, message):
    with pytest.raises(RegistrationInvalid, match=message):
        register(**overrides)
    assert not Player.objects.exists()
