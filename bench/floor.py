"""The floor: a bare WSGI function that stores the same inbound-event row with psycopg.

No framework, no signature check, no validation: one persistent connection per worker,
orjson, INSERT ... ON CONFLICT DO NOTHING, answer 202 or 200. Django's figures are reported
as a fraction of this one, measured in the same run with the same gunicorn settings.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime

import orjson
import psycopg

_conn: psycopg.Connection | None = None
TABLE = "bench_floor_event"

INSERT = f"""
INSERT INTO {TABLE} (integration_id, webhook_id, event_type, occurred_at, payload, raw_body,
    body_hash, received_at, source, status, attempts, last_error, warnings, errors, parked_system,
    parked_external_id)
VALUES (%s, %s, %s, %s, %s, '', %s, %s, 'webhook', 'received', 0, '', '[]', '{{}}', '', '')
ON CONFLICT (integration_id, webhook_id) DO NOTHING
RETURNING id
"""  # noqa: S608 - constant table name


def _connection() -> psycopg.Connection:
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    return _conn


def application(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"status":"ok"}']
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    envelope = orjson.loads(body)
    webhook_id = environ.get("HTTP_WEBHOOK_ID", "")
    row = (
        _connection()
        .execute(
            INSERT,
            (
                int(os.environ["BENCH_INTEGRATION_ID"]),
                webhook_id,
                envelope.get("type", ""),
                envelope.get("timestamp"),
                orjson.dumps(envelope.get("data")).decode(),
                hashlib.sha256(body).hexdigest(),
                datetime.now(UTC),
            ),
        )
        .fetchone()
    )
    status, word = ("202 Accepted", "accepted") if row else ("200 OK", "duplicate")
    start_response(status, [("Content-Type", "application/json")])
    return [orjson.dumps({"status": word, "event_id": row[0] if row else None})]
