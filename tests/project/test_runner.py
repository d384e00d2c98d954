"""`make run`'s supervisor and its embedded broker, as a user runs them.

The runner is started for real in a data directory of the test's own (its own embedded Valkey)
against a fresh database on the suite's PostgreSQL server, without demo data. Killing its worker
and its web server with SIGKILL restarts both (counted, banner printed again); Ctrl-C then stops
everything, the broker included.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import psutil
import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _server_url(database: str) -> str:
    s = settings.DATABASES["default"]
    host = s["HOST"] or s["OPTIONS"].get("host", "")
    auth = quote(s["USER"] or "postgres") + (":" + quote(s["PASSWORD"]) if s["PASSWORD"] else "")
    if host.startswith("/"):
        return f"postgresql://{auth}@/{database}?host={quote(host)}"
    return f"postgresql://{auth}@{host}:{s['PORT'] or 5432}/{database}"


@pytest.fixture
def runner_database():
    name = "test_affiliatehub_runner" + os.environ.get("TEST_DB_SUFFIX", "")
    with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _server_url(name)
    with psycopg.connect(_server_url("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_the_runner_restarts_a_killed_worker_and_web_server_and_ctrl_c_stops_everything(
    tmp_path, runner_database
):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env.update(
        AFFILIATEHUB_DATA_DIR=str(tmp_path),
        DATABASE_URL=runner_database,
        AFFILIATEHUB_DEMO="0",
        PORT=str(port),
        WEB_CONCURRENCY="1",
        WORKER_CONCURRENCY="1",
        LOG_LEVEL="WARNING",
    )
    log = tmp_path / "runner.log"
    with open(log, "w") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "affiliatehub.runner"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    state_file = tmp_path / "run" / "supervisor.json"

    def state() -> dict:
        try:
            return json.loads(state_file.read_text())["children"]
        except (OSError, ValueError, KeyError):
            return {}

    try:
        _wait(lambda: "AffiliateHub is running." in log.read_text(), 240, "the start-up banner")
        assert _answers(port)
        assert f"(the password is kept in {tmp_path / 'admin-password'})" in log.read_text()
        broker_pid = int((tmp_path / "broker" / "valkey.pid").read_text())
        first = state()
        assert set(first) == {"web", "worker", "beat"}

        os.kill(first["worker"]["pid"], signal.SIGKILL)
        os.kill(first["web"]["pid"], signal.SIGKILL)

        _wait(
            lambda: (
                state().get("worker", {}).get("restarts") == 1
                and state()["web"].get("restarts") == 1
            ),
            60,
            "both restarts",
        )
        _wait(lambda: _answers(port), 60, "the restarted web server")
        again = state()
        assert again["worker"]["last_exit_code"] == -signal.SIGKILL
        assert again["web"]["pid"] != first["web"]["pid"]
        assert psutil.pid_exists(again["worker"]["pid"])
        assert again["beat"]["restarts"] == 0
        output = log.read_text()
        assert "[supervisor] restarted worker (restart 1)." in output
        assert (
            output.count("AffiliateHub is running.") >= 3
        )  # after start-up, and after each restart
    finally:
        runner.send_signal(signal.SIGINT)
        time.sleep(0.3)
        runner.send_signal(
            signal.SIGINT
        )  # an impatient second Ctrl-C does not cut the clean-up short
        code = runner.wait(timeout=60)

    assert code == 0
    children = state()
    for child in (first, again):
        for name, info in child.items():
            assert (
                not psutil.pid_exists(info["pid"])
                or psutil.Process(info["pid"]).status() == psutil.STATUS_ZOMBIE
            ), name
    _wait(
        lambda: not psutil.pid_exists(broker_pid),
        15,
        "the embedded broker to stop with its last user",
    )
    assert all(info["pid"] is None for info in children.values())
