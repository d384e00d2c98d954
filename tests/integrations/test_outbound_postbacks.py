"""Subscriber `player.attributed` and affiliate postbacks, through registration and the inbound
pipeline, delivered to a real local HTTP server."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.affiliates.postbacks import PostbackTemplate
from apps.core.models import AuditLog
from apps.integrations.accounts import integration_create
from apps.integrations.inbound.services import (
    inbound_event_process,
    inbound_event_store,
    incoming_event,
    item_hash,
)
from apps.integrations.models import InboundEvent
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import OutboundDelivery
from apps.integrations.outbound.public import postback_url_expand
from apps.postbacks.services import player_register_announced, postback_fire
from tests.factories import (
    BrandLicenceFactory,
    ClickFactory,
    JurisdictionFactory,
    SelfExclusionFactory,
)
from tests.outbound_receiver import Receiver

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def click(db):
    BrandLicenceFactory(brand="spinpalace", country=JurisdictionFactory(code="DE", name="Germany"))
    return ClickFactory(
        link__creative__campaign__brand="spinpalace",
        sub1="fb ads&more",
        sub2="adset-7",
        sub5="geo/de",
    )


def _register(click, external_id="C-1"):
    return player_register_announced(
        tracking_token=click.token if click else None,
        registered_at=T0,
        country="DE",
        brand="spinpalace",
        identifiers={"crm": external_id},
        source="test",
    ).player


def _template(click, event, receiver, campaign=None, path="/pb"):
    return PostbackTemplate.objects.create(
        affiliate=click.link.affiliate,
        campaign=campaign,
        event=event,
        url_template=receiver.url + path + "?cid={click_id}&t={token}&s1={sub1}&s5={sub5}&e={event}"
        "&a={amount}&c={currency}&com={commission}",
    )


def test_registration_tells_the_crm_about_the_affiliate(receiver, click):
    crm = outbound.endpoint_create(
        name="crm", kind="subscriber", url=receiver.url + "/crm", event_types=["player.attributed"]
    )
    player = _register(click)
    assert outbound.deliveries_send_due() == {"succeeded": 1}
    [request] = receiver.requests
    event = Webhook(crm.secret).verify(request.body, request.headers)
    assert event["type"] == "player.attributed"
    assert event["data"]["player_id"] == player.pk
    assert event["data"]["affiliate_id"] == click.link.affiliate_id
    assert event["data"]["campaign_id"] == click.link.campaign_id
    assert event["data"]["identifiers"] == {"crm": "C-1"}
    assert event["data"]["tracking_token"] == click.token and event["data"]["sub1"] == "fb ads&more"
    # The same registration again publishes nothing new.
    _register(click)
    assert OutboundDelivery.objects.filter(event_type="player.attributed").count() == 1


def test_organic_players_are_not_published(receiver, click):
    outbound.endpoint_create(
        name="crm", kind="subscriber", url=receiver.url, event_types=["player.attributed"]
    )
    _register(None)
    assert not OutboundDelivery.objects.exists()


def test_registration_postback_expands_macros_url_encoded(receiver, click):
    _template(click, "registration", receiver)
    player = _register(click)
    assert outbound.deliveries_send_due() == {"succeeded": 1}
    [request] = receiver.requests
    assert request.method == "GET" and request.path.startswith("/pb?")
    query = parse_qs(urlsplit(request.path).query, keep_blank_values=True)
    assert query["cid"] == [str(click.pk)] and query["t"] == [click.token]
    assert (
        query["s1"] == ["fb ads&more"]
        and query["s5"] == ["geo/de"]
        and query["e"] == ["registration"]
    )
    assert query["a"] == [""] and query["com"] == [""]
    assert "fb%20ads%26more" in request.path and "geo%2Fde" in request.path
    assert player.click_id == click.pk


def test_campaign_template_overrides_the_affiliate_one(receiver, click):
    _template(click, "registration", receiver, path="/affiliate-wide")
    _template(click, "registration", receiver, campaign=click.link.campaign, path="/campaign")
    _register(click)
    outbound.deliveries_send_due()
    assert [r.path.split("?")[0] for r in receiver.requests] == ["/campaign"]


def test_first_deposit_postback_through_the_pipeline_once(receiver, click):
    _template(click, "first_deposit", receiver)
    _register(click)
    psp = integration_create(slug="crm-deposits", kind="crm", id_system="crm")[0]

    def deliver(deposit_id, webhook_id):
        envelope = {
            "type": "deposit.created",
            "timestamp": (T0 + timedelta(hours=1)).isoformat(),
            "data": {
                "deposit_id": deposit_id,
                "player_id": "C-1",
                "amount": "50.00",
                "currency": "EUR",
            },
        }
        stored = inbound_event_store(
            integration_id=psp.pk,
            source="webhook",
            event=incoming_event(
                integration_kind="crm",
                webhook_id=webhook_id,
                envelope=envelope,
                body_hash=item_hash(envelope),
            ),
        )
        return inbound_event_process(event_id=stored.event_id)

    assert deliver("D-1", "m1") == "processed"
    assert deliver("D-2", "m2") == "processed"  # a second deposit is not a first deposit
    assert outbound.deliveries_send_due() == {"succeeded": 1}
    query = parse_qs(urlsplit(receiver.requests[0].path).query, keep_blank_values=True)
    assert (
        query["e"] == ["first_deposit"] and query["a"] == ["50.00000000"] and query["c"] == ["EUR"]
    )
    assert InboundEvent.objects.filter(status="processed").count() == 2


def test_no_postback_for_a_self_excluded_player(receiver, click):
    _template(click, "first_deposit", receiver)
    player = _register(click)
    SelfExclusionFactory(player=player, starts_at=timezone.now() - timedelta(days=1))
    assert (
        postback_fire(player=player, event="first_deposit", amount=None, currency="EUR")
        == "suppressed"
    )
    assert not OutboundDelivery.objects.filter(event_type="postback.first_deposit").exists()
    audit = AuditLog.objects.get(action="postback.suppressed")
    assert "self-excluded" in audit.reason


def test_qualified_cpa_postback_fires_once_with_the_commission(receiver, click):
    _template(click, "qualified_cpa", receiver)
    player = _register(click)
    from decimal import Decimal

    assert (
        postback_fire(
            player=player, event="qualified_cpa", commission=Decimal("200.00"), currency="EUR"
        )
        == "queued"
    )
    assert (
        postback_fire(
            player=player, event="qualified_cpa", commission=Decimal("200.00"), currency="EUR"
        )
        == "duplicate"
    )
    outbound.deliveries_send_due()
    query = parse_qs(urlsplit(receiver.requests[0].path).query, keep_blank_values=True)
    assert query["com"] == ["200.00"] and query["e"] == ["qualified_cpa"]


def test_postbacks_are_logged_like_any_delivery(receiver, click):
    _template(click, "registration", receiver)
    receiver.respond(500)
    _register(click)
    assert outbound.deliveries_send_due() == {"failed": 1}
    delivery = OutboundDelivery.objects.get(event_type="postback.registration")
    assert delivery.endpoint.kind == "postback" and delivery.attempt_log.get().response_code == 500


def test_unknown_braces_are_left_alone():
    assert (
        postback_url_expand("https://t.example/?a={amount}&x={unknown}", {"amount": "1 000"})
        == "https://t.example/?a=1%20000&x={unknown}"
    )


def test_admin_creates_templates_and_rejects_unknown_macros(client, click):
    from django.urls import reverse

    from tests.factories import UserFactory

    client.force_login(UserFactory(username="root", is_superuser=True))
    url = reverse("admin:affiliates_postbacktemplate_add")
    data = {
        "affiliate": click.link.affiliate_id,
        "event": "registration",
        "is_active": "on",
        "url_template": "https://t.example/pb?cid={click_id}&x={oops}",
    }
    assert "Unknown macros: oops" in client.post(url, data).content.decode()
    data["url_template"] = "https://t.example/pb?cid={click_id}"
    client.post(url, data)
    assert PostbackTemplate.objects.get().url_template.endswith("{click_id}")
