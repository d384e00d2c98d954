"""The reconciliation benchmark's source and floor (bench/reconciliation.py runs them in child
processes): the source's events from their index (1% missed by webhooks), loading the 99% that
arrived by webhook (COPY), the anti-join floor, and the HTTP server that serves the source.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import time

SLUG = "bench-recon"
PAGE_SIZE = 10_000
MISSED_EVERY = 100  # 1% of the source's events never arrived as webhooks
EPOCH = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
WINDOW = (EPOCH - dt.timedelta(hours=1), EPOCH + dt.timedelta(days=30))


def event(n: int) -> dict:
    return {
        "id": f"evt-{n:08d}",
        "type": "deposit.created",
        "timestamp": (EPOCH + dt.timedelta(seconds=n)).isoformat().replace("+00:00", "Z"),
        "data": {
            "deposit_id": f"D{n}",
            "player_id": f"P{n % 50_000}",
            "amount": "25.00",
            "currency": "EUR",
        },
    }


def missed(n: int) -> bool:
    return n % MISSED_EVERY == 0


def pages(total: int, size: int = PAGE_SIZE):
    for start in range(0, total, size):
        yield [event(n) for n in range(start, min(total, start + size))]


def ndjson_lines(events: list[dict]) -> bytes:
    """A page's event lines as the NDJSON source writes them (orjson: `{"id":"..."` first)."""
    import orjson

    return b"".join(orjson.dumps(item) + b"\n" for item in events)


def ndjson_page(lines: bytes, next_cursor: str | None) -> bytes:
    """An NDJSON page of the generic contract: its event lines, then its cursor line."""
    import orjson

    return lines + orjson.dumps({"next_cursor": next_cursor}) + b"\n"


def django_setup():
    import gc

    import django

    django.setup()
    # As a Celery worker child does at startup (affiliatehub/celery.py), where polls run: the
    # loaded app leaves the cyclic collector's generations. Without it, full collections
    # triggered by a page's 10,000 parsed events walk the whole app (parsing a page cost 2x).
    gc.freeze()


def generate(total: int) -> dict:
    """The integration, its poll configuration, and the 99% that arrived by webhook (COPY)."""
    django_setup()
    import orjson
    from django.db import connection

    from apps.integrations.models import Integration, PollConfig

    integration = Integration.objects.create(slug=SLUG, name=SLUG, kind="crm", id_system="crm")
    PollConfig.objects.create(
        integration=integration, url="http://127.0.0.1:1/events", page_size=PAGE_SIZE, enabled=False
    )
    started = time.perf_counter()
    received_at = EPOCH.isoformat()
    columns = (
        "integration_id, webhook_id, event_type, occurred_at, payload, raw_body, body_hash, "
        "received_at, "
        "source, status, attempts, last_error, warnings, errors, parked_system, "
        "parked_external_id, "
        "processed_at"
    )
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY integrations_inboundevent ({columns}) FROM STDIN") as copy:
            batch = []
            for n in range(total):
                if missed(n):
                    continue
                item = event(n)
                envelope = {k: v for k, v in item.items() if k != "id"}
                digest = hashlib.sha256(
                    orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS)
                ).hexdigest()
                batch.append(
                    f"{integration.pk}\t{item['id']}\tdeposit.created\t{item['timestamp']}\t"
                    f"{orjson.dumps(envelope).decode()}\t\t{digest}\t{received_at}\twebhook\tprocessed\t1\t\t"
                    f"[]\t{{}}\t\t\t{received_at}"
                )
                if len(batch) >= 20_000:
                    copy.write("\n".join(batch) + "\n")
                    batch.clear()
            if batch:
                copy.write("\n".join(batch) + "\n")
        # The idempotency keys the store writes with each event (InboundEventKey).
        cursor.execute(
            "INSERT INTO integrations_inboundeventkey "
            "(integration_id, webhook_id, event_id, received_at, body_hash) "
            "SELECT integration_id, webhook_id, id, received_at, body_hash FROM "
            "integrations_inboundevent"
        )
        cursor.execute("ANALYZE integrations_inboundevent")
        cursor.execute("ANALYZE integrations_inboundeventkey")
    return {
        "stored_webhook_events": total - len(range(0, total, MISSED_EVERY)),
        "load_seconds": round(time.perf_counter() - started, 1),
    }


def antijoin(total: int) -> dict:
    """The floor: PostgreSQL alone finds the missing ids of the window."""
    django_setup()
    from django.db import connection

    from apps.integrations.models import Integration

    integration_id = Integration.objects.get(slug=SLUG).pk
    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute("CREATE TEMPORARY TABLE source_ids (webhook_id text NOT NULL)")
        with cursor.cursor.copy("COPY source_ids (webhook_id) FROM STDIN") as copy:
            for start in range(0, total, 100_000):
                copy.write(
                    "".join(f"evt-{n:08d}\n" for n in range(start, min(total, start + 100_000)))
                )
        cursor.execute("ANALYZE source_ids")
        copy_seconds = time.perf_counter() - started
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            cursor.execute(
                """SELECT count(*) FROM source_ids s
                   WHERE NOT EXISTS (SELECT 1 FROM integrations_inboundeventkey e
                                     WHERE e.integration_id = %s AND e.webhook_id =
                                          s.webhook_id)""",
                [integration_id],
            )
            missing = cursor.fetchone()[0]
            timings.append(time.perf_counter() - started)
    return {
        "antijoin_seconds": round(min(timings), 3),
        "antijoin_missing": missing,
        "copy_ids_seconds": round(copy_seconds, 3),
    }


def serve(port: int, prerender: int = 0) -> None:
    """The source: GET /events?total=&cursor=&limit= -> {"events": [...], "next_cursor": ...},
    or with `Accept: application/x-ndjson` one envelope per line and the cursor line last.

    The pages of the first `prerender` events (PAGE_SIZE each) are rendered in both formats to a
    file before the server answers, and served from it as a file would be: building a million
    dicts costs the source ~10 s of CPU on a 2-core machine, which is not the poller's cost."""
    import tempfile
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    import orjson

    spool = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
    offsets: dict[tuple[int, bool], tuple[int, int]] = {}
    for start in range(0, prerender, PAGE_SIZE):
        events = [event(n) for n in range(start, min(prerender, start + PAGE_SIZE))]
        for ndjson, chunk in ((False, orjson.dumps(events)), (True, ndjson_lines(events))):
            offsets[start, ndjson] = (spool.tell(), len(chunk))
            spool.write(chunk)
    spool.flush()

    def rendered(start: int, end: int, ndjson: bool) -> bytes:
        """The page's events: a JSON array, or NDJSON lines."""
        if end - start == PAGE_SIZE and (start, ndjson) in offsets and end <= prerender:
            offset, size = offsets[start, ndjson]
            return os.pread(spool.fileno(), size, offset)
        events = [event(n) for n in range(start, end)]
        return ndjson_lines(events) if ndjson else orjson.dumps(events)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = parse_qs(urlsplit(self.path).query)
            total = int(query.get("total", ["0"])[0])
            start = int(query.get("cursor", ["0"])[0])
            limit = int(query.get("limit", [str(PAGE_SIZE)])[0])
            end = min(total, start + limit)
            next_cursor = str(end) if end < total else None
            ndjson = "application/x-ndjson" in self.headers.get("Accept", "")
            if ndjson:
                body = ndjson_page(rendered(start, end, True), next_cursor)
            else:
                body = b"".join(
                    (
                        b'{"events":',
                        rendered(start, end, False),
                        b',"next_cursor":',
                        orjson.dumps(next_cursor),
                        b"}",
                    )
                )
            self.send_response(200)
            self.send_header(
                "Content-Type", "application/x-ndjson" if ndjson else "application/json"
            )
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
