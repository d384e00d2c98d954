"""/metrics: a bearer token when configured, else only the address allow-list (loopback)."""

import pytest

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"
    assert "affiliatehub_" not in response.content.decode()


def test_without_a_token_loopback_scrapers_read_the_metrics(client, settings):
    settings.AFFILIATEHUB_METRICS_TOKEN = ""
    ipv4 = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    ipv6 = client.get("/metrics", REMOTE_ADDR="::1")
    assert ipv4.status_code == ipv6.status_code == 200
    assert "affiliatehub_" in ipv4.content.decode()


def test_without_a_token_other_addresses_are_refused(client, settings):
    settings.AFFILIATEHUB_METRICS_TOKEN = ""
    assert_unauthorized(client.get("/metrics", REMOTE_ADDR="203.0.113.7"))
    assert_unauthorized(client.get("/metrics", REMOTE_ADDR="2001:db8::7"))


def test_the_allow_list_takes_networks(client, settings):
    settings.AFFILIATEHUB_METRICS_TOKEN = ""
    settings.AFFILIATEHUB_METRICS_ALLOWED_IPS = ["10.20.0.0/16", "2001:db8::/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8:1::5").status_code == 200
    assert_unauthorized(client.get("/metrics", REMOTE_ADDR="10.21.0.1"))
    assert_unauthorized(client.get("/metrics", REMOTE_ADDR="127.0.0.1"))


def test_a_forwarded_address_counts_only_behind_a_trusted_proxy(client, settings):
    settings.AFFILIATEHUB_METRICS_TOKEN = ""
    settings.AFFILIATEHUB_METRICS_ALLOWED_IPS = ["192.0.2.10"]
    forwarded = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.10"}
    assert_unauthorized(client.get("/metrics", **forwarded))
    settings.AFFILIATEHUB_TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client.get("/metrics", **forwarded).status_code == 200
    # The client's own (left-most) claim is not believed: the proxy saw 198.51.100.1.
    spoofed = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "192.0.2.10, 198.51.100.1"}
    assert_unauthorized(client.get("/metrics", **spoofed))


def test_with_a_token_only_the_right_bearer_token_reads_the_metrics(client, settings):
    settings.AFFILIATEHUB_METRICS_TOKEN = "s3cr3t-scrape-token"
    assert_unauthorized(client.get("/metrics"))  # loopback alone is no longer enough
    assert_unauthorized(client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token"))
    assert_unauthorized(client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cr3t-scrape-token"))
    assert_unauthorized(
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cr3t-scrape-token-and-more")
    )
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cr3t-scrape-token", REMOTE_ADDR="203.0.113.7"
    )
    assert response.status_code == 200
    assert "affiliatehub_" in response.content.decode()


def test_an_invalid_allow_list_entry_fails_the_system_checks(settings):
    from apps.core.checks import check_address_allow_lists

    settings.AFFILIATEHUB_METRICS_ALLOWED_IPS = ["127.0.0.1", "localhost"]
    errors = check_address_allow_lists()
    assert [error.id for error in errors] == ["core.E001"]
    assert "'localhost'" in errors[0].msg
