"""The outbound room's half of affiliate postbacks (`postback_enqueue`): plain values in, one GET
per (template, player, event) to the template's own endpoint, macros URL-encoded."""

import pytest

from apps.integrations.models import OutboundDelivery, OutboundEndpoint
from apps.integrations.outbound import public as outbound
from apps.integrations.outbound import services as engine
from tests.outbound_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def _enqueue(receiver, *, template_id=7, player_id=42, path="/pb"):
    return outbound.postback_enqueue(
        template_id=template_id,
        url_template=receiver.url + path + "?e={event}&s={sub1}&x={other}",
        event="registration",
        player_id=player_id,
        values={"event": "registration", "sub1": "a b/c&d"},
    )


def test_a_postback_is_one_get_per_template_player_and_event(receiver):
    assert _enqueue(receiver) is True
    assert _enqueue(receiver) is False  # the same conversion again: nothing new
    delivery = OutboundDelivery.objects.get()
    assert delivery.method == "GET" and delivery.event_type == "postback.registration"
    assert delivery.url == receiver.url + "/pb?e=registration&s=a%20b%2Fc%26d&x={other}"
    assert delivery.idempotency_key == "postback:7:42:registration"
    assert delivery.subject == "player:42" and delivery.topic == "postback"
    assert delivery.payload == {
        "player_id": 42,
        "template_id": 7,
        "values": {"event": "registration", "sub1": "a b/c&d"},
    }
    assert (delivery.endpoint.name, delivery.endpoint.kind) == ("postback-template-7", "postback")
    assert engine.deliveries_send_due() == {"succeeded": 1}
    # The HTTP client escapes the braces left in the URL on the wire.
    assert receiver.requests[0].path == "/pb?e=registration&s=a%20b%2Fc%26d&x=%7Bother%7D"


def test_a_410_disables_only_that_templates_endpoint(receiver):
    _enqueue(receiver, template_id=1, path="/gone")
    receiver.respond(410)
    assert engine.deliveries_send_due() == {"dead": 1}
    _enqueue(receiver, template_id=2, path="/fine")
    receiver.respond(200)
    assert engine.deliveries_send_due() == {"succeeded": 1}
    active = dict(OutboundEndpoint.objects.filter(kind="postback").values_list("name", "is_active"))
    assert active == {"postback-template-1": False, "postback-template-2": True}
