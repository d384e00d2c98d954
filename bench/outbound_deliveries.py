"""Benchmark: throughput of the outbound delivery engine against a local HTTP endpoint.

A private database is migrated; a receiver (a threaded HTTP server answering 200, in its own
process so it does not share our GIL) listens on 127.0.0.1. In a child process with Django
set up, N signed subscriber deliveries are enqueued (one transaction, like a burst of
business events), then sent by W sender threads, each doing what a Celery worker does per
message: `delivery_send` = claim (short transaction, SKIP LOCKED), HTTP outside any
transaction, record the attempt and outcome (short transaction). Celery itself is left out:
the numbers are the engine's, per worker thread.

Reported per concurrency level: deliveries/s, p50/p99 HTTP send latency (request to answer)
and p50/p99 of the whole delivery_send (claim + send + record).

    python -m bench outbound            # 5,000 deliveries at 1, 4 and 16 senders
    python -m bench outbound --quick    # 500 deliveries at 1 and 4 senders
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.common import (
    ROOT,
    bench_database_url,
    child_env,
    manage,
    percentile,
    process,
    write_result,
)


class _Ok(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body writes meet delayed ACKs: +40 ms

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST

    def log_message(self, *args):
        pass


def _serve(port: int) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    server.daemon_threads = True
    server.request_queue_size = 1024
    server.serve_forever()


def _child(count: int, senders: int, receiver_url: str) -> dict:
    """Runs with Django configured on the bench database; prints its measurements."""
    import threading

    import django

    django.setup()
    from django.db import connection, transaction

    from apps.integrations.outbound import services as outbound
    from apps.integrations.outbound.models import (
        DeliveryAttempt,
        OutboundDelivery,
        OutboundEndpoint,
    )

    OutboundDelivery.objects.all().delete()
    OutboundEndpoint.objects.filter(name="bench-subscriber").delete()
    endpoint = outbound.endpoint_create(
        name="bench-subscriber",
        kind="subscriber",
        url=receiver_url,
        event_types=["payout.completed"],
    )
    # Enqueueing must not send: the senders below do it. (The on_commit task publish is what
    # Celery would receive; here there is no broker to receive it.)
    outbound.enqueue_send = lambda delivery_id, countdown=None: None
    started = time.perf_counter()
    with transaction.atomic():
        for i in range(count):
            outbound.delivery_enqueue(
                endpoint=endpoint,
                event_type="payout.completed",
                idempotency_key=f"bench:{senders}:{i}",
                payload=outbound.subscriber_envelope(
                    "payout.completed",
                    {"payout_reference": f"PO-{i}", "amount": "10.00", "currency": "EUR"},
                ),
            )
    enqueue_seconds = time.perf_counter() - started
    ids = list(OutboundDelivery.objects.order_by("pk").values_list("pk", flat=True))
    connection.close()

    lock = threading.Lock()
    cursor = iter(ids)
    totals: list[float] = []
    outcomes: dict[str, int] = {}

    def sender():
        local_totals, local_outcomes = [], {}
        while True:
            with lock:
                delivery_id = next(cursor, None)
            if delivery_id is None:
                break
            t0 = time.perf_counter()
            outcome = outbound.delivery_send(delivery_id=delivery_id)
            local_totals.append((time.perf_counter() - t0) * 1000)
            local_outcomes[outcome] = local_outcomes.get(outcome, 0) + 1
        connection.close()
        with lock:
            totals.extend(local_totals)
            for key, value in local_outcomes.items():
                outcomes[key] = outcomes.get(key, 0) + value

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    http_ms = sorted(
        float(v)
        for v in DeliveryAttempt.objects.filter(delivery_id__in=ids).values_list(
            "duration_ms", flat=True
        )
    )
    totals.sort()
    return {
        "senders": senders,
        "deliveries": count,
        "outcomes": outcomes,
        "seconds": round(seconds, 3),
        "deliveries_per_s": round(count / seconds, 1),
        "enqueue_per_s": round(count / enqueue_seconds, 1),
        "send_p50_ms": round(percentile(http_ms, 50), 2),
        "send_p99_ms": round(percentile(http_ms, 99), 2),
        "delivery_p50_ms": round(percentile(totals, 50), 2),
        "delivery_p99_ms": round(percentile(totals, 99), 2),
    }


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(*, quick: bool = False) -> dict:
    count = 500 if quick else 5000
    levels = (1, 4) if quick else (1, 4, 16)
    database_url = bench_database_url("outbound")
    env = child_env(database_url)
    manage("migrate", "--no-input", "-v", "0", env=env)
    port = _free_port()
    receiver_url = f"http://127.0.0.1:{port}/hooks"
    serve = [sys.executable, "-c", f"from bench.outbound_deliveries import _serve; _serve({port})"]
    results = []
    with process(serve, env=env, ready_url=f"http://127.0.0.1:{port}/"):
        for senders in levels:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.outbound_deliveries",
                    "--child",
                    str(count),
                    str(senders),
                    receiver_url,
                ],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            result = json.loads(out.strip().splitlines()[-1])
            results.append(result)
            print(
                f"outbound: {senders:>2} sender(s): {result['deliveries_per_s']:>8.1f} "
                "deliveries/s, "
                f"send p50 {result['send_p50_ms']} ms p99 {result['send_p99_ms']} ms, "
                f"delivery p50 {result['delivery_p50_ms']} ms p99 {result['delivery_p99_ms']} ms "
                f"({result['outcomes']})",
                flush=True,
            )
    data = {"benchmark": "outbound", "quick": quick, "deliveries": count, "levels": results}
    path = write_result("outbound_deliveries", data)
    print(f"outbound: results in {path.relative_to(ROOT)}", flush=True)
    return data


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "--child":
    print(json.dumps(_child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])), flush=True)
