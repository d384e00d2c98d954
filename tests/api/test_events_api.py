"""GET /api/v1/events/: filters, keyset pagination under inserts, scopes, throttling, errors."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.api.pagination import encode_cursor
from apps.integrations.models import InboundEvent
from tests.integrations.factories import InboundEventFactory, IntegrationFactory

URL = "/api/v1/events/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def client(api_key_factory):
    return api_key_factory("events:read")


def _all_ids(client, url, params=None):
    """Follow `next` to the end; returns the ids in order and the number of pages."""
    ids, pages = [], 0
    response = client.get(url, params or {})
    while True:
        assert response.status_code == 200, response.content
        pages += 1
        ids += [row["id"] for row in response.json()["results"]]
        nxt = response.json()["next"]
        if not nxt:
            return ids, pages
        response = client.get(nxt)


def test_lists_events_with_their_envelope(client):
    event = InboundEventFactory(integration=IntegrationFactory(slug="crm-main"))
    body = client.get(URL).json()
    assert body["next"] is None
    (row,) = body["results"]
    assert row["id"] == event.pk
    assert row["integration"] == "crm-main"
    assert row["type"] == "deposit.created"
    assert row["payload"]["data"]["amount"] == "25.00"
    assert row["status"] == "received" and row["source"] == "webhook"


def test_filters_by_integration_type_status_and_occurred_window(client):
    crm, pay = IntegrationFactory(slug="crm-a"), IntegrationFactory(slug="pay-a")
    t0 = timezone.now() - dt.timedelta(days=1)
    a = InboundEventFactory(integration=crm, occurred_at=t0)
    b = InboundEventFactory(
        integration=crm, occurred_at=t0 + dt.timedelta(hours=2), event_type="kyc.updated"
    )
    c = InboundEventFactory(
        integration=pay, occurred_at=t0 + dt.timedelta(hours=3), status="processed"
    )

    def ids(**params):
        response = client.get(URL, params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids(integration="crm-a") == [a.pk, b.pk]
    assert ids(type="kyc.updated") == [b.pk]
    assert ids(status="processed") == [c.pk]
    after = (t0 + dt.timedelta(hours=1)).isoformat()
    assert ids(occurred_after=after) == [b.pk, c.pk]
    assert ids(occurred_after=after, occurred_before=(t0 + dt.timedelta(hours=3)).isoformat()) == [
        b.pk
    ]
    assert ids(integration="nope") == []


def test_bad_filter_values_are_400_problems_per_parameter(client):
    response = client.get(URL, {"status": "bogus", "occurred_after": "yesterday"})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and set(body["errors"]) == {"status", "occurred_after"}


@pytest.mark.parametrize(
    "cursor", ["garbage", "e30", encode_cursor(timezone.now(), 1)[:-3] + "!!!"]
)
def test_a_cursor_we_never_issued_is_404(client, cursor):
    response = client.get(URL, {"cursor": cursor})
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert "cursor" in response.json()["detail"]


def test_page_size_bounds(client):
    assert client.get(URL, {"page_size": 0}).status_code == 400
    assert client.get(URL, {"page_size": 1001}).status_code == 400
    assert client.get(URL, {"page_size": "x"}).status_code == 400
    assert client.get(URL, {"page_size": 1000}).status_code == 200


def test_pages_through_rows_sharing_one_timestamp(client):
    """A batch stores many events with the same received_at: the id breaks the tie."""
    integration = IntegrationFactory()
    same = timezone.now() - dt.timedelta(minutes=1)
    events = InboundEventFactory.create_batch(7, integration=integration, received_at=same)
    ids, pages = _all_ids(client, URL, {"page_size": 3})
    assert ids == sorted(e.pk for e in events)
    assert pages == 3


def test_inserts_between_page_fetches_are_neither_skipped_nor_repeated(client):
    integration = IntegrationFactory()
    base = timezone.now() - dt.timedelta(minutes=10)
    for i in range(10):
        InboundEventFactory(integration=integration, received_at=base + dt.timedelta(seconds=i))
    seen = []
    response = client.get(URL, {"page_size": 4})
    inserted = []
    while True:
        assert response.status_code == 200
        seen += [row["id"] for row in response.json()["results"]]
        # Concurrent writers: one row sorting at the newest end, one with a timestamp equal to
        # the last row served (same batch), both committed while the client is between pages.
        last = InboundEvent.objects.get(pk=seen[-1])
        if len(inserted) < 6:
            inserted.append(InboundEventFactory(integration=integration).pk)
            inserted.append(
                InboundEventFactory(integration=integration, received_at=last.received_at).pk
            )
        nxt = response.json()["next"]
        if not nxt:
            break
        response = client.get(nxt)
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert set(seen) == set(InboundEvent.objects.values_list("pk", flat=True)), "a row was skipped"
    assert set(inserted) <= set(seen)


def test_settle_window_holds_back_the_newest_rows(client, settings):
    settings.AFFILIATEHUB_API_SETTLE_SECONDS = 5
    old = InboundEventFactory(received_at=timezone.now() - dt.timedelta(seconds=30))
    InboundEventFactory(received_at=timezone.now())
    assert [row["id"] for row in client.get(URL).json()["results"]] == [old.pk]


def test_no_n_plus_one(client):
    for slug in ("a-1", "a-2", "a-3"):
        InboundEventFactory.create_batch(5, integration=IntegrationFactory(slug=slug))
    with CaptureQueriesContext(connection) as queries:
        assert len(client.get(URL).json()["results"]) == 15
    # auth key lookup (+ possibly last_used update) and the page: nothing per row
    assert len(queries) <= 3


def test_needs_a_key_with_the_scope(api_client, api_key_factory):
    anonymous = api_client.get(URL)
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"] == "application/problem+json"
    wrong_scope = api_key_factory("players:read").get(URL)
    assert wrong_scope.status_code == 403
    assert "events:read" in wrong_scope.json()["detail"]
    bad_key = api_client.get(URL, HTTP_AUTHORIZATION="Bearer not-a-key")
    assert bad_key.status_code == 401


def test_throttled_per_key_with_retry_after(api_key_factory, settings):
    settings.AFFILIATEHUB_API_THROTTLE_RATE = "3/minute"
    first, second = (
        api_key_factory("events:read", name="k1"),
        api_key_factory("events:read", name="k2"),
    )
    assert [first.get(URL).status_code for _ in range(3)] == [200, 200, 200]
    throttled = first.get(URL)
    assert throttled.status_code == 429
    assert throttled["Content-Type"] == "application/problem+json"
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert throttled.json()["status"] == 429
    assert second.get(URL).status_code == 200, "another key has its own budget"


@pytest.mark.parametrize(
    "query",
    [
        "type=deposit%00.created",
        "status=a%00",
        "integration=crm%00",
        "occurred_after=%00",
        "x%00=1",
    ],
)
def test_a_nul_in_a_filter_is_a_400_naming_it(client, query):
    response = client.get(f"{URL}?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == [query.split("=")[0].replace("%00", "\\u0000")]


def test_a_cursor_with_a_nul_is_not_one_we_issued(client):
    response = client.get(f"{URL}?cursor=abc%00def")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
