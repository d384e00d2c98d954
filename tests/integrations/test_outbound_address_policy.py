"""The outbound address policy where we send: deliveries, affiliate postbacks and poll
connectors refuse inward targets at send time, record the refusal like any failure (with its
reason, no response body) and do not retry it."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.affiliates.postbacks import PostbackTemplate
from apps.integrations.models import ReconciliationRun
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import DeliveryAttempt, OutboundDelivery
from apps.integrations.polling.services import integration_poll, poll_config_save
from apps.monitoring.models import Alert
from apps.postbacks.services import postback_fire
from tests.factories import AffiliateFactory, PlayerFactory, UserFactory
from tests.fake_dns import FakeDns
from tests.outbound_receiver import Receiver

from .factories import IntegrationFactory
from .polling_source import PollSource, envelope

REFUSED_TARGETS = [
    ("http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
    ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a cloud metadata address"),
    ("http://[::1]:{port}/hook", "::1 is a loopback address"),
    ("http://evil.example:{port}/hook", "evil.example resolves to 127.0.0.1, a loopback address"),
]


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def no_allowed_hosts(settings, monkeypatch):
    """The production default (nothing allowed), and evil.example resolving to loopback."""
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    dns = FakeDns.install(monkeypatch)
    dns.answer("evil.example", ["127.0.0.1"])
    return dns


def _port(server_url: str) -> str:
    return server_url.rstrip("/").rsplit(":", 1)[1].split("/")[0]


def _assert_refused_and_dead(delivery: OutboundDelivery, reason: str) -> None:
    delivery.refresh_from_db()
    expected = f"refused by the outbound address policy: {reason}"
    assert delivery.status == "dead" and delivery.attempts == 1, "a refusal is not retried"
    assert delivery.last_error == expected
    assert delivery.last_response_code is None and delivery.last_response_body == ""
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert (
        attempt.error == expected and attempt.response_body == "" and attempt.response_code is None
    )
    alert = Alert.objects.get(kind="delivery_dead", delivery=delivery)
    assert expected in alert.message and "AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS" in alert.message


# ---------------------------------------------------------------------------------------------
# Deliveries (subscribers and the payment gateway go through the same engine)


@pytest.mark.django_db
@pytest.mark.parametrize(("target", "reason"), REFUSED_TARGETS)
def test_a_delivery_to_an_inward_address_is_refused_at_send_time(
    receiver, no_allowed_hosts, target, reason
):
    url = target.format(port=_port(receiver.url))
    outbound.endpoint_create(
        name="crm", kind="subscriber", url=url, event_types=["payout.completed"]
    )
    [delivery] = outbound.subscriber_event_publish(
        "payout.completed", {"payout_reference": "PO-1"}, idempotency_key="payout.completed:PO-1"
    )

    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.DEAD

    _assert_refused_and_dead(delivery, reason)
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_delivery_to_an_allowed_host_is_sent(receiver, settings):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{_port(receiver.url)}"]
    outbound.endpoint_create(
        name="crm", kind="subscriber", url=receiver.url + "/hook", event_types=["payout.completed"]
    )
    [delivery] = outbound.subscriber_event_publish(
        "payout.completed", {"payout_reference": "PO-1"}, idempotency_key="payout.completed:PO-1"
    )
    assert outbound.delivery_send(delivery_id=delivery.pk) == outbound.SUCCEEDED
    assert [r.path for r in receiver.requests] == ["/hook"]


@pytest.mark.django_db
def test_dns_rebinding_cannot_redirect_a_delivery(receiver, settings, monkeypatch):
    """The name is public when checked and loopback afterwards: the delivery is sent to the
    checked address only (no second lookup), so it never reaches the loopback receiver."""
    from apps.core import outbound_policy

    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    dns = FakeDns.install(monkeypatch)
    dns.answer("rebind.example", ["93.184.216.34"], ["127.0.0.1"])
    connected = []

    def connect_to(address, port, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")  # no real network in tests

    monkeypatch.setattr(outbound_policy, "connect_to", connect_to)
    outbound.endpoint_create(
        name="crm",
        kind="subscriber",
        url=f"http://rebind.example:{_port(receiver.url)}/",
        event_types=["payout.completed"],
    )
    [delivery] = outbound.subscriber_event_publish("payout.completed", {}, idempotency_key="k")

    assert (
        outbound.delivery_send(delivery_id=delivery.pk) == outbound.FAILED
    )  # an ordinary network error

    assert connected == ["93.184.216.34"] and dns.lookups == ["rebind.example"]
    assert receiver.requests == []


@pytest.mark.django_db
def test_the_admin_shows_the_reason_and_no_response_body(client, no_allowed_hosts):
    outbound.endpoint_create(
        name="crm",
        kind="subscriber",
        url="http://169.254.169.254/latest/meta-data",
        event_types=["payout.completed"],
    )
    [delivery] = outbound.subscriber_event_publish("payout.completed", {}, idempotency_key="k")
    outbound.delivery_send(delivery_id=delivery.pk)
    client.force_login(UserFactory(username="root", is_superuser=True))

    page = client.get(
        reverse("admin:integrations_outbounddelivery_change", args=[delivery.pk])
    ).content.decode()

    assert (
        "refused by the outbound address policy: 169.254.169.254 is a cloud metadata address"
        in page
    )
    assert "ami-id" not in page


# ---------------------------------------------------------------------------------------------
# Affiliate postbacks


def _attributed_player():
    return PlayerFactory(
        affiliate=AffiliateFactory(), attribution_status="attributed", attribution_note="test"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("target", "reason"), REFUSED_TARGETS)
def test_a_postback_to_an_inward_address_is_refused_at_send_time(
    receiver, no_allowed_hosts, target, reason
):
    player = _attributed_player()
    PostbackTemplate.objects.create(
        affiliate=player.affiliate,
        event="registration",
        url_template=target.format(port=_port(receiver.url)) + "?cid={click_id}",
    )

    assert postback_fire(player=player, event="registration") == "queued"
    assert outbound.deliveries_send_due() == {"dead": 1}

    _assert_refused_and_dead(
        OutboundDelivery.objects.get(event_type="postback.registration"), reason
    )
    assert receiver.requests == []


@pytest.mark.django_db
def test_a_postback_to_an_allowed_host_is_sent(receiver):
    player = _attributed_player()  # the test settings allow 127.0.0.1
    PostbackTemplate.objects.create(
        affiliate=player.affiliate,
        event="registration",
        url_template=receiver.url + "/pb?e={event}",
    )
    postback_fire(player=player, event="registration")
    assert outbound.deliveries_send_due() == {"succeeded": 1}
    assert receiver.requests[0].path == "/pb?e=registration"


# ---------------------------------------------------------------------------------------------
# Poll connectors


@pytest.fixture
def source():
    server = PollSource().start()
    yield server
    server.stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("target", "reason"), REFUSED_TARGETS)
def test_a_poll_of_an_inward_address_fails_at_once_with_the_reason(
    source, no_allowed_hosts, target, reason
):
    integration = IntegrationFactory(slug="crm-poll")
    poll_config_save(
        integration=integration,
        url=target.format(port=_port(source.url)) + "/poll/",
        max_attempts=5,
    )

    run = integration_poll(
        integration_id=integration.pk,
        trigger=ReconciliationRun.Trigger.MANUAL,
        sleep=lambda seconds: pytest.fail("a refusal is not retried"),
    )

    assert run.status == "failed"
    assert run.error == f"OutboundAddressRefused: refused by the outbound address policy: {reason}"
    assert source.requests == []


@pytest.mark.django_db(transaction=True)
def test_a_poll_of_an_allowed_host_runs(source):
    integration = IntegrationFactory(slug="crm-poll")
    source.items = [envelope("evt_1", timezone.now() - dt.timedelta(hours=1))]
    poll_config_save(integration=integration, url=source.url, page_size=10)

    run = integration_poll(integration_id=integration.pk, trigger=ReconciliationRun.Trigger.MANUAL)

    assert run.status == "succeeded", run.error
    assert run.recovered == 1


# ---------------------------------------------------------------------------------------------
# Saving a URL in the admin (an early warning; the send-time check is the guarantee)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://[::1]/",
        "http://localhost:8000/",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_the_admin_refuses_to_save_a_literal_inward_url(client, settings, url):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    client.force_login(UserFactory(username="root", is_superuser=True))
    affiliate = AffiliateFactory()

    endpoint = client.post(
        reverse("admin:integrations_outboundendpoint_add"),
        {"name": "bi", "kind": "subscriber", "url": url, "event_types": ["player.attributed"]},
    )
    template = client.post(
        reverse("admin:affiliates_postbacktemplate_add"),
        {
            "affiliate": affiliate.pk,
            "event": "registration",
            "url_template": url + "?c={click_id}",
            "is_active": "on",
        },
    )
    poll = client.post(
        reverse("admin:integrations_pollconfig_add"),
        {
            "integration": IntegrationFactory().pk,
            "url": url,
            "adapter": "generic",
            "page_size": 100,
            "window_overlap": "00:10:00",
            "interval_minutes": 5,
            "initial_lookback": "1 00:00:00",
            "timeout_seconds": 15,
            "max_attempts": 3,
        },
    )

    for response in (endpoint, template, poll):
        assert response.status_code == 200, "the form is shown again"
        assert "Refused by the outbound address policy" in response.content.decode()
    assert not PostbackTemplate.objects.exists()


@pytest.mark.django_db
def test_the_admin_saves_an_allowed_or_named_url(client, settings):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1:8000"]
    client.force_login(UserFactory(username="root", is_superuser=True))
    for name, url in (
        ("sandbox", "http://127.0.0.1:8000/sandbox/hook"),
        ("bi", "https://bi.example/hooks"),
    ):
        response = client.post(
            reverse("admin:integrations_outboundendpoint_add"),
            {"name": name, "kind": "subscriber", "url": url, "event_types": ["player.attributed"]},
        )
        assert response.status_code == 302, response.content.decode()[:2000]
