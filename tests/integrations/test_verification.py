"""Standard Webhooks verification: the reference vector, tolerance, malformed input never 5xx."""

import json
import time
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.integrations.api import views
from apps.integrations.inbound import verification
from apps.integrations.inbound.verification import SignatureError, decode_secret

from .conftest import sign
from .factories import IntegrationFactory

REFERENCE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
REFERENCE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
REFERENCE_TIMESTAMP = 1614265330
REFERENCE_BODY = b'{"test": 2432232314}'
REFERENCE_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def reference_verify(**overrides):
    kwargs = {
        "webhook_id": REFERENCE_ID,
        "timestamp": str(REFERENCE_TIMESTAMP),
        "signature": REFERENCE_SIGNATURE,
        "body": REFERENCE_BODY,
        "keys": (decode_secret(REFERENCE_SECRET),),
        "now": REFERENCE_TIMESTAMP,
    }
    kwargs.update(overrides)
    return verification.verify(**kwargs)


def test_reference_vector_verifies_with_a_frozen_clock():
    assert reference_verify() == REFERENCE_TIMESTAMP
    assert (
        verification.sign(
            decode_secret(REFERENCE_SECRET), REFERENCE_ID, REFERENCE_TIMESTAMP, REFERENCE_BODY
        )
        == REFERENCE_SIGNATURE
    )


def test_reference_vector_fails_when_anything_changes():
    with pytest.raises(SignatureError):
        reference_verify(body=b'{"test": 2432232315}')
    with pytest.raises(SignatureError):
        reference_verify(webhook_id="msg_other")
    with pytest.raises(SignatureError):
        reference_verify(keys=(decode_secret("whsec_" + "A" * 32),))


@pytest.mark.parametrize("skew, ok", [(-300, True), (300, True), (-301, False), (301, False)])
def test_tolerance_is_300_seconds_both_ways(skew, ok):
    now = REFERENCE_TIMESTAMP - skew  # the message is `skew` seconds away from our clock
    if ok:
        assert reference_verify(now=now)
    else:
        with pytest.raises(SignatureError):
            reference_verify(now=now)


@pytest.mark.django_db
def test_reference_vector_through_the_endpoint(client, monkeypatch):
    IntegrationFactory(slug="reference", signing_secret=REFERENCE_SECRET)
    monkeypatch.setattr(
        views, "time", types.SimpleNamespace(time=lambda: float(REFERENCE_TIMESTAMP))
    )
    response = client.post(
        "/api/v1/webhooks/reference/",
        REFERENCE_BODY,
        content_type="application/json",
        HTTP_WEBHOOK_ID=REFERENCE_ID,
        HTTP_WEBHOOK_TIMESTAMP=str(REFERENCE_TIMESTAMP),
        HTTP_WEBHOOK_SIGNATURE=REFERENCE_SIGNATURE,
    )
    # Authentic, so it gets past 401; a body without type/data is then invalid (and kept).
    assert response.status_code == 422, response.content
    assert response.json()["errors"]["type"]

    stale = client.post(
        "/api/v1/webhooks/reference/",
        REFERENCE_BODY,
        content_type="application/json",
        HTTP_WEBHOOK_ID=REFERENCE_ID,
        HTTP_WEBHOOK_TIMESTAMP=str(REFERENCE_TIMESTAMP),
        HTTP_WEBHOOK_SIGNATURE=REFERENCE_SIGNATURE,
    )
    assert stale.status_code == 422  # same id, same body: the stored invalid answer again
    monkeypatch.setattr(
        views, "time", types.SimpleNamespace(time=lambda: float(REFERENCE_TIMESTAMP + 301))
    )
    late = client.post(
        "/api/v1/webhooks/reference/",
        REFERENCE_BODY,
        content_type="application/json",
        HTTP_WEBHOOK_ID=REFERENCE_ID,
        HTTP_WEBHOOK_TIMESTAMP=str(REFERENCE_TIMESTAMP),
        HTTP_WEBHOOK_SIGNATURE=REFERENCE_SIGNATURE,
    )
    assert late.status_code == 401


VALID_ENVELOPE = {
    "type": "deposit.created",
    "timestamp": "2026-11-27T10:15:00Z",
    "data": {"deposit_id": "D1", "player_id": "P1", "amount": "1.00", "currency": "EUR"},
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["deposit.created", "trade.closed", "nope", ""])
            | st.integers(),
            "data": json_values,
        },
        optional={"timestamp": st.text(max_size=30) | st.just("2026-11-27T10:15:00Z")},
    ).map(lambda v: json.dumps(v).encode()),
    st.just(json.dumps(VALID_ENVELOPE).encode()),
)
header_text = st.text(max_size=40) | st.text(alphabet="0123456789-+.e ", max_size=30)


@st.composite
def deliveries(draw):
    """Half authentic (correctly signed, fresh, JSON): the body decides. Half anything at all."""
    body = draw(bodies)
    if draw(st.booleans()):
        webhook_id = draw(st.from_regex(r"msg_[a-z0-9]{1,6}", fullmatch=True))
        timestamp = draw(st.integers(min_value=-250, max_value=250))
        content_type = draw(
            st.sampled_from(
                [
                    "application/json",
                    "application/cloudevents+json",
                    "application/json; charset=utf-8",
                ]
            )
        )
        return body, webhook_id, timestamp, "correct", content_type
    webhook_id = draw(
        st.none() | header_text | st.from_regex(r"msg_[a-z0-9]{1,10}", fullmatch=True)
    )
    # Offsets from "now" are resolved in the test: a strategy must not read the clock.
    timestamp = draw(
        st.none()
        | header_text
        | st.integers(min_value=-(10**30), max_value=10**30).map(str)
        | st.integers(min_value=-1000, max_value=1000)
    )
    signing = draw(st.sampled_from(["correct", "random", "none", "junk", "several"]))
    content_type = draw(
        st.sampled_from(["application/json", "text/plain", "application/cloudevents+json", ""])
    )
    return body, webhook_id, timestamp, signing, content_type


@pytest.mark.django_db
@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=deliveries())
def test_malformed_deliveries_never_cause_a_5xx(client, integration, secret, delivery):
    body, webhook_id, timestamp, signing, content_type = delivery
    if isinstance(timestamp, int):
        timestamp = str(int(time.time()) + timestamp)
    if signing == "correct" and webhook_id is not None and timestamp is not None:
        signature = sign(secret, webhook_id, timestamp, body)
    elif signing == "random":
        signature = "v1,QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    elif signing == "junk":
        signature = "v1,,,, v1 ,=== \x00 v1,%%%"
    elif signing == "several":
        signature = " ".join(["v0,abc", "v1,", "v1,@@", "v1a,xx"] * 3)
    else:
        signature = None
    headers = {}
    for name, value in (
        ("HTTP_WEBHOOK_ID", webhook_id),
        ("HTTP_WEBHOOK_TIMESTAMP", timestamp),
        ("HTTP_WEBHOOK_SIGNATURE", signature),
    ):
        if value is not None:
            headers[name] = value
    response = client.generic(
        "POST", f"/api/v1/webhooks/{integration.slug}/", body, content_type=content_type, **headers
    )
    assert response.status_code < 500, response.content
    assert response.status_code in {200, 202, 400, 401, 409, 413, 415, 422}
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
