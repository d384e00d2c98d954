"""Click redirects refuse what cannot be stored (NUL: 400) and are throttled per client (429)."""

import pytest
from django.core.cache import caches

from apps.affiliates.models import Click
from tests.factories import TrackingLinkFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    caches["default"].clear()
    yield
    caches["default"].clear()


@pytest.mark.parametrize("query", ["sub1=a%00b", "sub5=%00", "x%00=1"])
def test_a_nul_in_the_click_url_is_a_400_naming_the_parameter(client, query):
    link = TrackingLinkFactory()
    response = client.get(f"/t/{link.code}/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"] == {
        query.split("=")[0].replace("%00", "\\u0000"): [
            "Contains a NUL character (\\u0000), which cannot be stored."
        ]
    }
    assert not Click.objects.exists()


def test_clicks_are_throttled_per_client_with_429_and_retry_after(client, settings):
    settings.AFFILIATEHUB_CLICK_THROTTLE_RATE = "3/minute"
    link = TrackingLinkFactory()
    answers = [
        client.get(f"/t/{link.code}/", REMOTE_ADDR="198.51.100.7").status_code for _ in range(4)
    ]
    assert answers == [302, 302, 302, 429]
    refused = client.get(f"/t/{link.code}/", REMOTE_ADDR="198.51.100.7")
    assert refused["Content-Type"] == "application/problem+json"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert (
        client.get(f"/t/{link.code}/", REMOTE_ADDR="203.0.113.9").status_code == 302
    )  # another client
    assert Click.objects.count() == 4


def test_an_empty_rate_turns_the_click_throttle_off(client, settings):
    settings.AFFILIATEHUB_CLICK_THROTTLE_RATE = ""
    link = TrackingLinkFactory()
    assert {client.get(f"/t/{link.code}/").status_code for _ in range(5)} == {302}
