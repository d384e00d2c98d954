"""The outbound address policy on its own: which addresses are refused, the allow-list, and a
session that checks the address it connects to when it connects (so DNS cannot swap it)."""

import re
import socket
import ssl

import pytest
import requests
import urllib3.connection

from apps.core import outbound_policy
from apps.core.outbound_policy import (
    OutboundAddressRefused,
    address_refusal,
    host_is_allowed,
    policy_session,
    url_refusal,
)
from tests.fake_dns import FakeDns
from tests.outbound_receiver import Receiver

PUBLIC_ADDRESS = "93.184.216.34"


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def fake_dns(monkeypatch):
    return FakeDns.install(monkeypatch)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "127.0.0.1 is a loopback address"),
        ("::1", "::1 is a loopback address"),
        ("::ffff:127.0.0.1", "127.0.0.1 is a loopback address"),
        ("10.0.0.1", "10.0.0.1 is a private address"),
        ("172.20.1.2", "172.20.1.2 is a private address"),
        ("192.168.1.1", "192.168.1.1 is a private address"),
        ("fd12:3456::1", "fd12:3456::1 is a private address"),
        ("169.254.169.254", "169.254.169.254 is a cloud metadata address"),
        ("fd00:ec2::254", "fd00:ec2::254 is a cloud metadata address"),
        ("169.254.10.1", "169.254.10.1 is a link-local address"),
        ("fe80::1", "fe80::1 is a link-local address"),
        ("0.0.0.0", "0.0.0.0 is an unspecified address"),
        ("::", ":: is an unspecified address"),
        ("224.0.0.251", "224.0.0.251 is a multicast address"),
        ("ff02::1", "ff02::1 is a multicast address"),
        ("240.0.0.1", "240.0.0.1 is a reserved address"),
        ("100.64.0.1", "100.64.0.1 is not a public address"),
    ],
)
def test_inward_addresses_are_refused_with_their_reason(address, reason):
    assert address_refusal(address) == reason


@pytest.mark.parametrize("address", [PUBLIC_ADDRESS, "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_pass(address):
    assert address_refusal(address) is None


def test_allow_list_matches_host_and_optional_port(settings):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = [
        "sandbox.internal",
        "127.0.0.1:8000",
        "[::1]:9000",
        "LocalHost",
    ]
    assert host_is_allowed("sandbox.internal", 443) and host_is_allowed("SANDBOX.internal.", 80)
    assert host_is_allowed("127.0.0.1", 8000) and not host_is_allowed("127.0.0.1", 8001)
    assert (
        host_is_allowed("::1", 9000)
        and host_is_allowed("[::1]", 9000)
        and not host_is_allowed("::1", 80)
    )
    assert host_is_allowed("localhost", 5432)
    assert not host_is_allowed("other.internal", 443)


def test_url_refusal_at_save_time_sees_literal_addresses_only(settings):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1:8000"]
    assert url_refusal("http://10.0.0.1/hook") == "10.0.0.1 is a private address"
    assert url_refusal("http://[::1]:8080/") == "::1 is a loopback address"
    assert url_refusal("http://localhost/x") == "localhost is a loopback address"
    assert (
        url_refusal("http://169.254.169.254/latest/meta-data")
        == "169.254.169.254 is a cloud metadata address"
    )
    assert url_refusal("http://127.0.0.1:8000/sandbox/gateway") is None  # allowed
    assert (
        url_refusal("https://tracker.example/pb?cid={click_id}") is None
    )  # a name: checked when sending


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/hook", "10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a cloud metadata address"),
        ("http://[::1]:{port}/", "::1 is a loopback address"),
        ("http://evil.example:{port}/", "evil.example resolves to 127.0.0.1, a loopback address"),
    ],
)
def test_the_session_refuses_inward_targets_before_connecting(
    settings, receiver, fake_dns, url, reason
):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    fake_dns.answer("evil.example", ["127.0.0.1"])
    port = receiver.url.rsplit(":", 1)[1]
    with pytest.raises(OutboundAddressRefused) as refused:
        policy_session().get(url.format(port=port), timeout=2)
    assert str(refused.value) == f"refused by the outbound address policy: {reason}"
    assert receiver.requests == []


def test_a_name_resolving_to_public_and_private_addresses_is_refused(settings, fake_dns):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    fake_dns.answer("mixed.example", [PUBLIC_ADDRESS, "10.1.2.3"])
    with pytest.raises(
        OutboundAddressRefused,
        match=re.escape("mixed.example resolves to 10.1.2.3, a private address"),
    ):
        policy_session().get("http://mixed.example/", timeout=2)


def test_an_allowed_host_is_reached(settings, receiver):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = ["127.0.0.1"]
    response = policy_session().post(receiver.url + "/ok", data=b"{}", timeout=2)
    assert response.status_code == 200
    assert [r.path for r in receiver.requests] == ["/ok"]


def test_an_allowed_host_and_port_is_reached_and_another_port_is_not(settings, receiver):
    port = int(receiver.url.rsplit(":", 1)[1])
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{port}"]
    assert policy_session().get(receiver.url + "/", timeout=2).status_code == 200
    with pytest.raises(OutboundAddressRefused):
        policy_session().get(
            f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/", timeout=2
        )


def test_dns_rebinding_cannot_pass_the_connection_goes_to_the_checked_address(
    settings, receiver, fake_dns, monkeypatch
):
    """First answer public, every later one loopback: the name is looked up once, the public
    address is checked and is the one connected to (here rerouted to the local receiver so the
    request completes); the Host header still names the host."""
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    fake_dns.answer("rebind.example", [PUBLIC_ADDRESS], ["127.0.0.1"])
    port = int(receiver.url.rsplit(":", 1)[1])
    connected = []
    real_connect_to = outbound_policy.connect_to

    def connect_to(address, port_, **kwargs):
        connected.append(address)
        return real_connect_to("127.0.0.1", port, **kwargs)  # stands in for the public server

    monkeypatch.setattr(outbound_policy, "connect_to", connect_to)

    response = policy_session().get(f"http://rebind.example:{port}/x", timeout=2)

    assert response.status_code == 200
    assert connected == [PUBLIC_ADDRESS]
    assert fake_dns.lookups == ["rebind.example"], (
        "one lookup: the address checked is the address used"
    )
    assert receiver.requests[0].headers["host"] == f"rebind.example:{port}"


def test_a_connection_failure_to_a_checked_address_is_an_ordinary_network_error(
    settings, fake_dns, monkeypatch
):
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    fake_dns.answer("down.example", [PUBLIC_ADDRESS])

    def refuse(address, port, **kwargs):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(outbound_policy, "connect_to", refuse)
    with pytest.raises(requests.ConnectionError, match="Connection refused"):
        policy_session().get("http://down.example/", timeout=2)


def test_https_keeps_the_host_name_for_sni_and_certificate_checks(settings, fake_dns, monkeypatch):
    """The TCP connection is pinned to the checked address; TLS is given the host name (SNI and
    the certificate check), not the address."""
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    fake_dns.answer("secure.example", [PUBLIC_ADDRESS])
    connected, tls = [], []

    def connect_to(address, port, **kwargs):
        connected.append(address)
        left, right = socket.socketpair()
        right.close()
        return left

    def wrap(**kwargs):
        tls.append(kwargs["server_hostname"])
        kwargs["sock"].close()
        raise ssl.SSLError("handshake stopped by the test")

    monkeypatch.setattr(outbound_policy, "connect_to", connect_to)
    monkeypatch.setattr(urllib3.connection, "_ssl_wrap_socket_and_match_hostname", wrap)
    with pytest.raises(requests.exceptions.SSLError):
        policy_session().get("https://secure.example/", timeout=2)
    assert connected == [PUBLIC_ADDRESS]
    assert tls == ["secure.example"]


def test_proxies_are_not_used(settings, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    settings.AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS = []
    session = policy_session()
    assert session.trust_env is False
    with pytest.raises(OutboundAddressRefused, match="proxy"):
        session.get("http://example.com/", proxies={"http": "http://10.9.9.9:3128"}, timeout=2)
