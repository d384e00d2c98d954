"""affiliatehub.wsgi sends webhook paths to a handler without the browser-only middleware.

The same requests go through the full Django stack and through the webhook handler, both as
WSGI callables (the test client has a handler of its own); the answers must be the same.
"""

from __future__ import annotations

import io
import json
import sys
import time

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from affiliatehub import wsgi
from apps.integrations.models import InboundEvent

from .conftest import sign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: the test's transaction must survive request signals."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _call(app, *, method="POST", path, body=b"", headers=None, content_type="application/json"):
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        **(headers or {}),
    }
    started = []
    chunks = app(
        environ,
        lambda status, response_headers, exc_info=None: started.append((status, response_headers)),
    )
    try:
        content = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    status, response_headers = started[0]
    return status, sorted(response_headers), content


def _signed(secret, webhook_id, body):
    timestamp = int(time.time())
    return {
        "HTTP_WEBHOOK_ID": webhook_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(timestamp),
        "HTTP_WEBHOOK_SIGNATURE": sign(secret, webhook_id, timestamp, body),
    }


def _event(player_id="P1"):
    return json.dumps(
        {
            "type": "player.registered",
            "timestamp": "2026-11-27T14:05:00Z",
            "data": {
                "player_id": player_id,
                "registered_at": "2026-11-27T14:05:00Z",
                "country": "GB",
                "brand": "b",
            },
        }
    ).encode()


def _without_event_id(content: bytes) -> dict:
    body = json.loads(content)
    body.pop("event_id", None)
    return body


def test_webhook_paths_go_to_the_lean_handler_and_others_to_the_full_stack(monkeypatch):
    calls = []
    monkeypatch.setattr(
        wsgi, "webhook_application", lambda environ, start: calls.append("webhook") or []
    )
    monkeypatch.setattr(
        wsgi, "django_application", lambda environ, start: calls.append("django") or []
    )
    wsgi.application({"PATH_INFO": "/api/v1/webhooks/acme-crm/"}, None)
    wsgi.application({"PATH_INFO": "/api/v1/webhooks/acme-crm/batch/"}, None)
    wsgi.application({"PATH_INFO": "/api/v1/events/"}, None)
    wsgi.application({"PATH_INFO": "/admin/"}, None)
    assert calls == ["webhook", "webhook", "django", "django"]


def test_the_lean_handler_keeps_every_middleware_but_the_browser_ones():
    from django.conf import settings

    kept = [path for path in settings.MIDDLEWARE if path not in wsgi.BROWSER_ONLY_MIDDLEWARE]
    assert "django.middleware.security.SecurityMiddleware" in kept
    assert "django.middleware.clickjacking.XFrameOptionsMiddleware" in kept
    assert wsgi.webhook_application._middleware_chain is not None
    assert kept != settings.MIDDLEWARE  # the setting itself is untouched


@pytest.mark.parametrize(
    "case",
    [
        "accepted",
        "duplicate",
        "invalid",
        "bad_signature",
        "not_json",
        "wrong_method",
        "unknown_integration",
        "not_an_object",
        "batch",
    ],
)
def test_both_stacks_answer_alike(integration, secret, case):
    path = f"/api/v1/webhooks/{integration.slug}/"
    answers = []
    for n, app in enumerate((wsgi.django_application, wsgi.application)):
        webhook_id = f"msg_{case}_{n}"
        body, method, content_type, request_path = (
            _event(f"P-{case}-{n}"),
            "POST",
            "application/json",
            path,
        )
        headers = _signed(secret, webhook_id, body)
        if case == "duplicate":
            _call(app, path=path, body=body, headers=headers)
        elif case == "invalid":
            body = json.dumps(
                {"type": "deposit.created", "timestamp": "2026-11-27T14:05:00Z", "data": {}}
            ).encode()
            headers = _signed(secret, webhook_id, body)
        elif case == "bad_signature":
            headers["HTTP_WEBHOOK_SIGNATURE"] = "v1,AAAA"
        elif case == "not_json":
            content_type = "text/plain"
        elif case == "wrong_method":
            method = "GET"
        elif case == "unknown_integration":
            request_path = "/api/v1/webhooks/nobody/"
        elif case == "not_an_object":
            body = b"[1, 2]"
            headers = _signed(secret, webhook_id, body)
        elif case == "batch":
            request_path = path + "batch/"
            body = json.dumps(
                {"events": [{"id": f"{webhook_id}-a", **json.loads(_event(f"B-{n}"))}]}
            ).encode()
            headers = _signed(secret, webhook_id, body)
        status, response_headers, content = _call(
            app,
            method=method,
            path=request_path,
            body=body,
            headers=headers,
            content_type=content_type,
        )
        # Content-Length follows the event id's digits; the bodies are compared without it.
        response_headers = [
            (name, value) for name, value in response_headers if name != "Content-Length"
        ]
        answers.append((status, response_headers, _without_event_id(content)))
    via_full_stack, via_dispatcher = answers
    if case == "batch":  # item ids differ between the two runs
        for answer in answers:
            answer[2].pop("invalid_items", None)
    assert via_dispatcher == via_full_stack
    if case == "accepted":
        assert via_dispatcher[0].startswith("202")
        assert InboundEvent.objects.filter(webhook_id__startswith="msg_accepted_").count() == 2
