"""Fixtures for the integrations tests: signing, posting, capturing enqueued tasks."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from django.core.cache import caches
from standardwebhooks.webhooks import Webhook

from apps.integrations.inbound import dispatch, registry, store, verification

from .factories import IntegrationFactory

FIXTURES = Path(__file__).parent / "fixtures"


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Sign with the reference library (independent of the code under test).

    The library only takes text and integer times; other bodies and timestamps (for the
    malformed-header tests) are signed by hand, the same way.
    """
    try:
        text = body.decode()
    except UnicodeDecodeError:
        text = None
    if text is None or not isinstance(timestamp, int):
        key = base64.b64decode(secret.removeprefix("whsec_"))
        digest = hmac.new(
            key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256
        ).digest()
        return "v1," + base64.b64encode(digest).decode()
    return Webhook(secret).sign(webhook_id, dt.datetime.fromtimestamp(timestamp, tz=dt.UTC), text)


@pytest.fixture(autouse=True)
def _isolated_state():
    """Each test starts with the production registry, an empty lookup cache and no counters."""
    saved = registry.snapshot()
    verification.forget()
    store._warnings_seen.clear()
    caches["default"].clear()
    yield
    registry.restore(saved)
    verification.forget()


@pytest.fixture
def published(monkeypatch):
    """Messages sent to the broker: (task name, args, countdown)."""
    sent = []

    def record(task, args, countdown=None, **options):
        sent.append((task.name, args, countdown))

    monkeypatch.setattr(dispatch, "_publish", record)
    return sent


@pytest.fixture
def integration(db):
    return IntegrationFactory(slug="acme-crm", kind="crm", id_system="crm")


@pytest.fixture
def secret(integration):
    return integration.secrets.get().secret


@pytest.fixture
def post_webhook(client, integration, secret):
    """POST a body signed for `integration` (override any header; pass sign=False to skip)."""

    def post(
        body,
        *,
        slug=None,
        webhook_id="msg_1",
        timestamp=None,
        signature=None,
        secret_override=None,
        content_type="application/json",
        batch=False,
        **extra,
    ):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        timestamp = int(time.time()) if timestamp is None else timestamp
        if signature is None:
            signature = sign(secret_override or secret, webhook_id, timestamp, raw)
        headers = {
            "HTTP_WEBHOOK_ID": webhook_id,
            "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
            "HTTP_WEBHOOK_SIGNATURE": signature,
        }
        headers = {k: v for k, v in headers.items() if v is not None}
        headers.update(extra)
        path = f"/api/v1/webhooks/{slug or integration.slug}/" + ("batch/" if batch else "")
        return client.generic("POST", path, raw, content_type=content_type, **headers)

    return post
