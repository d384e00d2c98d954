"""Schemathesis against our own OpenAPI schema: every documented operation, generated requests
(valid and invalid), authenticated with a key holding every scope. No 5xx, and every response
must match the schema (status code, content type, headers, body).

The webhook endpoints are described in the schema by apps/integrations/api/schema.py. Generated
requests cannot carry a valid signature, so they must all be refused with a documented 4xx
(mostly 401). A second, hypothesis-driven test signs generated bodies with a real integration
secret so the validation paths behind the signature (202, 200, 400, 409, 422) are exercised too,
every answer checked against the schema.
"""

import itertools
import json
import re
import time

import hypothesis.strategies as st
import pytest
import schemathesis
from django.core import signals
from django.core.cache import caches
from django.db import close_old_connections
from hypothesis import HealthCheck, example, given, settings
from schemathesis.core import NotSet
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from werkzeug.test import Client

from affiliatehub.wsgi import application
from apps.core.models import ApiKey
from apps.core.services import apikey_create
from apps.integrations import accounts
from apps.integrations.inbound import verification

WEBHOOK_SLUG = "fuzz-crm"
WEBHOOK = "/api/v1/webhooks/{slug}/"
WEBHOOK_BATCH = "/api/v1/webhooks/{slug}/batch/"
# Checks that assume a generated request can be valid: never true without a signature.
_SIGNATURE_BLIND = [positive_data_acceptance, negative_data_rejection]


@pytest.fixture
def wsgi_requests_share_the_test_transaction(db):
    # Like Django's test client: keep the test's connection (and transaction) across requests.
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def api_schema(wsgi_requests_share_the_test_transaction):
    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def bearer(db):
    issued = apikey_create(name="schemathesis", scopes=[scope for scope, _ in ApiKey.Scope.choices])
    return {"Authorization": f"Bearer {issued.plaintext}"}


@pytest.fixture
def webhook_integration(db):
    """A CRM integration and its secret; the lookup cache forgets it afterwards (rolled back)."""
    integration, secret = accounts.integration_create(slug=WEBHOOK_SLUG, kind="crm")
    caches["default"].clear()
    yield integration, secret
    verification.forget(WEBHOOK_SLUG)


_slug_choice = itertools.count()
_ROUTABLE_SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")


@schema.parametrize()
@settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
)
def test_api_conforms_to_its_schema(case, bearer, webhook_integration):
    excluded = []
    if case.operation.path == "/api/v1/registrations/":
        # Known gaps in the registration schema (apps/mappings), not in its behaviour: DRF's
        # CharField turns numbers into strings (schema-violating numbers accepted) and
        # `identifiers` must not be empty, which the generated schema does not say (minProperties).
        excluded = _SIGNATURE_BLIND
    webhook = case.operation.path in (WEBHOOK, WEBHOOK_BATCH)
    if webhook:
        excluded = _SIGNATURE_BLIND
        # Mostly the real integration (so the signature checks run), sometimes the generated slug
        # (404 when it is routable; one the URL pattern refuses never reaches our view).
        slug = (case.path_parameters or {}).get("slug")
        if next(_slug_choice) % 4 or not isinstance(slug, str) or not _ROUTABLE_SLUG.match(slug):
            case.path_parameters = {**(case.path_parameters or {}), "slug": WEBHOOK_SLUG}
        headers = {}
    else:
        # A real key where the case sends credentials; none where it tests their absence.
        headers = bearer if "Authorization" in (case.headers or {}) else {}
    response = case.call_and_validate(headers=headers, excluded_checks=excluded)
    if webhook:
        assert 400 <= response.status_code < 500, "an unsigned webhook must be refused"


# --------------------------------------------------------------------------------------------
# Signed webhooks: generated bodies, really signed


def _operation(path: str):
    return schemathesis.openapi.from_wsgi("/api/schema/", application)[path]["POST"]


_ids = st.one_of(
    st.sampled_from(
        ["fuzz-repeat-1", "fuzz-repeat-2"]
    ),  # reused ids: duplicates (200) and conflicts (409)
    st.uuids().map(lambda u: f"fuzz-{u}"),
)
_odd_bodies = st.one_of(  # 400 (not a JSON object) and 422 (an object, but no event or batch)
    st.binary(max_size=40),
    st.sampled_from([b"{}", b'{"events": []}', b'{"events": {"type": "deposit.created"}}']),
    st.lists(st.integers(), max_size=3).map(lambda v: json.dumps(v).encode()),
    st.just(b'{"type": "deposit.created", "data": {"x": "\\u0000"}}'),
)


def _post_signed(client: Client, *, url: str, secret: str, webhook_id: str, body: bytes):
    key = verification.decode_secret(secret)
    timestamp = int(time.time())
    return client.post(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": verification.sign(key, webhook_id, timestamp, body),
        },
    )


_external_ids = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", min_size=1, max_size=12)
_deposits = st.builds(
    lambda deposit, player, cents, currency: {
        "type": "deposit.created",
        "timestamp": "2026-11-27T10:15:00Z",
        "data": {
            "deposit_id": deposit,
            "player_id": player,
            "amount": f"{cents / 100:.2f}",
            "currency": currency,
        },
    },
    _external_ids,
    _external_ids,
    st.integers(1, 10**9),
    st.sampled_from(["EUR", "USD", "GBP"]),
)
_FIXED_DEPOSIT = {
    "type": "deposit.created",
    "timestamp": "2026-11-27T10:15:00Z",
    "data": {"deposit_id": "D-1", "player_id": "C-1", "amount": "10.00", "currency": "EUR"},
}


def _requests(path: str, operation):
    """(webhook-id, body) pairs: generated bodies under new or reused ids, odd bodies, well-formed
    events (202), invalid ones (422) and one fixed request sent again and again (202, then 200).

    The invalid branch is explicit: Hypothesis biases generation with constants it reads from the
    project's own source, so whether generated bodies alone reach a 422 within the examples
    changed with unrelated code (it did with the dual-control payout code)."""
    generated = (
        operation.as_strategy()
        .filter(lambda case: not isinstance(case.body, NotSet))
        .map(lambda case: json.dumps(case.body).encode())
    )
    fresh = st.uuids().map(lambda u: f"fuzz-{u}")
    if path == WEBHOOK:
        valid, fixed = _deposits, _FIXED_DEPOSIT
        invalid = _deposits.map(lambda event: {**event, "data": {}})  # payload invalid
    else:
        invalid = st.just({"events": []})  # no events to store
        valid = st.lists(
            st.tuples(fresh, _deposits).map(lambda p: {"id": p[0], **p[1]}), min_size=1, max_size=5
        ).map(lambda items: {"events": items})
        fixed = {"events": [{"id": "fuzz-fixed-item", **_FIXED_DEPOSIT}]}
    return st.one_of(
        st.tuples(_ids, generated),
        st.tuples(fresh, _odd_bodies),
        st.tuples(fresh, valid.map(lambda body: json.dumps(body).encode())),
        st.tuples(fresh, invalid.map(lambda body: json.dumps(body).encode())),
        st.just(("fuzz-fixed", json.dumps(fixed).encode())),
    )


@pytest.mark.parametrize("path", [WEBHOOK, WEBHOOK_BATCH])
def test_signed_webhooks_answer_as_documented(
    path, wsgi_requests_share_the_test_transaction, webhook_integration
):
    _, secret = webhook_integration
    operation = _operation(path)
    client = Client(application)
    url = path.format(slug=WEBHOOK_SLUG)
    seen: set[int] = set()

    # The documented refusals are always sent once: the derandomized stream shifts whenever the
    # schema does, and on its own it may draw no body that is an object but not an event/batch.
    @given(case=operation.as_strategy(), request=_requests(path, operation))
    @example(case=operation.Case(), request=("fuzz-odd-object", b"{}"))
    @example(case=operation.Case(), request=("fuzz-odd-array", b"[1, 2]"))
    @settings(
        max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    def check(case, request):
        webhook_id, body = request
        response = _post_signed(client, url=url, secret=secret, webhook_id=webhook_id, body=body)
        assert response.status_code < 500, response.get_data(as_text=True)
        seen.add(response.status_code)
        # `case` names the operation whose schema the answer must match; the body sent is ours.
        case.validate_response(response, excluded_checks=_SIGNATURE_BLIND)

    check()
    # The signature let generated bodies through to validation and the store.
    expected = {202, 200, 400, 409, 422} if path == WEBHOOK else {202, 200, 400, 422}
    assert expected <= seen, seen
