"""The scale-out topology, up for real (issue 18 §5; tools/topology.py, docs/operations.md).

Two gunicorn instances behind HAProxy, PgBouncer (transaction pooling) in front of a PostgreSQL
primary and its streaming replica, RabbitMQ as the broker, three Celery workers (`trades` on its
own) and one beat. The sandbox's sender plays its signed webhook traffic through the load
balancer while a reader polls the read API, the health page and the cohort report; one web
instance and one worker are SIGKILLed mid-run. Then: every event the sender got a 2xx for is
stored once and processed once, its facts and ledger lines are there once, and the reads were
served by the replica (its own pg_stat_statements), none failing.

Slow (about two minutes) and it needs the machine's RabbitMQ, PostgreSQL's server binaries,
pgbouncer and haproxy (installed from Debian when missing, as root): marked `topology` and
skipped unless AFFILIATEHUB_TOPOLOGY_TESTS=1 (`.ci/run` sets it).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import threading
import time
from collections import Counter

import psycopg
import pytest
import requests

from tools.topology import PYTHON, ROOT, Topology, wait_for

pytestmark = [
    pytest.mark.topology,
    pytest.mark.skipif(
        os.environ.get("AFFILIATEHUB_TOPOLOGY_TESTS", "") in ("", "0"),
        reason="the scale-out topology runs with AFFILIATEHUB_TOPOLOGY_TESTS=1 (.ci/run)",
    ),
]

RATE = 20  # events per second from the sandbox's sender
DURATION = 36  # seconds of traffic
KILL_WEB_AT = 12  # seconds into the traffic
KILL_WORKER_AT = 20
DRAIN_TIMEOUT = 60

READS = {
    # path -> what its queries read (a table name in the statements the replica served)
    "/api/v1/events/?limit=50": "integrations_inboundevent",
    "/api/v1/players/?limit=50": "players_player",
    "/api/v1/commissions/?limit=50": "commissions_commissionentry",
    "/admin/health/": "monitoring_inboundhourlystat",
    "/admin/retention/cohorts/": "players_deposit",
}


class Reader(threading.Thread):
    """Polls the read-only pages through the load balancer, about five requests a second."""

    def __init__(self, topology: Topology) -> None:
        super().__init__(daemon=True)
        self.topology = topology
        self.stop = threading.Event()
        self.answers: Counter = Counter()
        self.failures: list[str] = []
        self.session = requests.Session()
        self.headers = {
            "api": {"Authorization": f"Bearer {topology.seeded['api_key']}"},
            # Production's session cookie is Secure; over plain HTTP it is sent by hand.
            "admin": {"Cookie": f"sessionid={topology.seeded['session_key']}"},
        }

    def run(self) -> None:
        while not self.stop.is_set():
            for path in READS:
                headers = self.headers["api" if path.startswith("/api/") else "admin"]
                try:
                    response = self.session.get(
                        self.topology.url + path, headers=headers, timeout=10, allow_redirects=False
                    )
                except requests.RequestException as exc:
                    self.failures.append(f"{path}: {exc.__class__.__name__}")
                    continue
                self.answers[(path, response.status_code)] += 1
                if response.status_code != 200:
                    self.failures.append(f"{path}: {response.status_code} {response.text[:200]}")
            self.stop.wait(1.0)


def _scalar(dsn: str, sql: str, params=()):
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchone()[0]


def _rows(dsn: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def _replica_statements(topology: Topology) -> list[tuple[str, int]]:
    with psycopg.connect(topology.dsn("replica"), autocommit=True) as conn:
        return conn.execute(
            "SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = current_database()"
        ).fetchall()


def _drained(topology: Topology, sender) -> bool:
    if sender.alive():
        return False
    primary = topology.dsn("primary")
    sent = _scalar(primary, "SELECT count(*) FROM sandbox_sandboxsentevent WHERE NOT dropped")
    stored = _scalar(primary, "SELECT count(*) FROM integrations_inboundevent")
    waiting = _scalar(
        primary, "SELECT count(*) FROM integrations_inboundevent WHERE status <> 'processed'"
    )
    if waiting:
        print("not processed yet:", _rows(primary, WAITING_SQL))
        print("their players' registrations as sent:", _rows(primary, REGISTRATIONS_SQL))
    return sent > 0 and stored >= sent and waiting == 0


REGISTRATIONS_SQL = (
    "SELECT 'sent', last_status::text, count(*) FROM sandbox_sandboxsentevent"
    " WHERE event_type = 'player.registered' GROUP BY 1, 2 UNION ALL"
    " SELECT 'stored', status, count(*) FROM integrations_inboundevent"
    " WHERE event_type = 'player.registered' GROUP BY 1, 2"
)
WAITING_SQL = (
    "SELECT status, event_type, left(last_error, 200), count(*) FROM integrations_inboundevent "
    "WHERE status <> 'processed' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 8"
)


def _verify(topology: Topology) -> dict:
    result = subprocess.run(
        [PYTHON, "-m", "tools.topology", "verify"],
        cwd=ROOT,
        env=topology.direct_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_scale_out_topology_exactly_once_with_reads_on_the_replica():
    began = time.monotonic()
    with Topology() as topology:
        try:
            topology.start()
            assert _scalar(topology.dsn("replica"), "SELECT pg_is_in_recovery()") is True
            reader = Reader(topology)
            sender = topology.spawn(
                "sandbox",
                [
                    PYTHON, str(ROOT / "manage.py"), "sandbox_run", "--base-url", topology.url,
                    "--rate", str(RATE), "--duration", str(DURATION), "--seed", "18",
                    "--no-faults",
                ],
                env=topology.direct_env(),
            )  # fmt: skip
            traffic_began = time.monotonic()
            reader.start()

            def at(seconds: float) -> None:
                time.sleep(max(0.0, traffic_began + seconds - time.monotonic()))

            at(KILL_WEB_AT)
            served_by_web1 = _count(topology, "web1", "POST /api/v1/webhooks/")
            topology.processes["web1"].kill()  # gunicorn master and workers, mid-request
            at(KILL_WORKER_AT)
            done_by_worker1 = _count(topology, "worker1", "succeeded in")
            topology.processes["worker1"].kill()  # a `celery` worker, mid-task (acks late)
            sender.popen.wait(timeout=DURATION + 60)
            reader.stop.set()
            reader.join(timeout=15)
            assert sender.popen.returncode == 0, sender.tail()
            wait_for(
                lambda: _drained(topology, sender),
                timeout=DRAIN_TIMEOUT,
                what="every accepted event processed",
                interval=1.0,
            )
            report = _verify(topology)
            statements = _replica_statements(topology)
            pooled = topology.pgbouncer_stats()
            groups = [process.popen.pid for process in topology.processes.values()]
            vhost = topology.vhost
            lag = _scalar(
                topology.dsn("primary"),
                "SELECT coalesce(max(replay_lag), interval '0') FROM pg_stat_replication",
            )
        except BaseException:
            print(topology.logs(25))
            raise
        finally:
            if "reader" in locals():
                reader.stop.set()
            print(f"topology start-up: { {k: round(v, 1) for k, v in topology.timings.items()} }")

        # The kills happened mid-run (each had done work) and the survivors kept going.
        print(
            f"before the kills: web1 answered {served_by_web1} webhooks, "
            f"worker1 ran {done_by_worker1} tasks"
        )
        assert served_by_web1 > 0 and done_by_worker1 > 0
        assert _count(topology, "web2", "POST /api/v1/webhooks/") > 0
        assert not topology.processes["web1"].alive()
        assert not topology.processes["worker1"].alive()
        for name in ("web2", "worker2", "worker3", "beat", "haproxy", "pgbouncer", "replica"):
            assert topology.processes[name].alive(), (
                f"{name} died:\n{topology.processes[name].tail()}"
            )

        # Every event the sender got a 2xx for is stored once and processed once.
        print(f"exactly-once report: {json.dumps(report, sort_keys=True)}")
        assert report["accepted"] >= RATE * DURATION * 0.5, report
        assert report["not_accepted"] == {}, report
        assert report["accepted_missing"] == [], report
        assert report["stored"] == report["accepted"], report
        assert report["unprocessed_accepted"] == [], report
        assert report["statuses"] == {"processed": report["stored"]}, report
        # Facts: one row per processed event, none twice, none without its event.
        assert report["players"] == report["registrations"] > 0, report
        for facts in ("deposits", "revenue", "trades"):
            figures = report[facts]
            assert figures["events"] > 0, (facts, figures)
            assert figures["rows"] == figures["events"], (facts, figures)
            assert figures["events_without_row"] == 0, (facts, figures)
            assert figures["events_with_several_rows"] == 0, (facts, figures)
            assert figures["rows_of_other_events"] == 0, (facts, figures)
        # Ledger: one lot rebate per attributed trade, at most one CPA per player, no repeats.
        assert report["rebate_trades"] > 0 and report["cpa_lines"] > 0, report
        assert report["rebate_trades_without_line"] == 0, report
        assert report["rebate_lines_of_other_events"] == 0, report
        assert report["rebate_events_with_several_lines"] == 0, report
        assert report["players_with_several_cpa_lines"] == 0, report
        assert report["ledger_duplicates"] == 0, report

        # The reads were answered, by the replica.
        print(f"reads: {dict(reader.answers)}; replica replay lag at the end: {lag}")
        assert reader.failures == [], reader.failures[:10]
        for path in READS:
            assert reader.answers[(path, 200)] >= DURATION // 4, (path, reader.answers)
        served = {
            table: sum(calls for query, calls in statements if table in query)
            for table in READS.values()
        }
        print(f"statements the replica served, by table: {served}")
        for path, table in READS.items():
            assert served[table] >= reader.answers[(path, 200)], (path, served)
        # Web and workers went through PgBouncer, to both servers.
        print(f"transactions pooled by PgBouncer: {pooled}")
        assert pooled.get("affiliatehub", 0) > report["accepted"], pooled
        assert pooled.get("affiliatehub_replica", 0) >= sum(reader.answers.values()), pooled
    elapsed = time.monotonic() - began
    print(f"topology test: {elapsed:.1f} s")
    # Nothing left behind: processes, the temporary directory, the RabbitMQ vhost.
    assert topology.root is not None and not topology.root.exists()
    wait_for(
        lambda: not [group for group in groups if _group_running(group)],
        timeout=10,
        what="every process group gone",
    )
    assert topology.processes == {}
    vhosts = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert vhost not in vhosts


def _count(topology: Topology, process: str, text: str) -> int:
    return topology.processes[process].log.read_text(errors="replace").count(text)


def _group_running(group: int) -> bool:
    """A process of this process group (each piece runs in its own) is still running."""
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False
