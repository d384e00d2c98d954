"""The embedded broker is one server per data directory, shared, stopped by its last user."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import redis

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
import sys
from affiliatehub import embedded
print(embedded.broker_url(), flush=True)
sys.stdin.readline()
"""


def _user(data_dir: Path) -> subprocess.Popen:
    env = dict(os.environ, AFFILIATEHUB_DATA_DIR=str(data_dir))
    return subprocess.Popen(
        [sys.executable, "-c", HOLD],
        env=env,
        cwd=ROOT,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )


def test_processes_share_one_server_and_the_last_one_out_stops_it(tmp_path):
    first, second = _user(tmp_path), None
    try:
        url = first.stdout.readline().strip()
        second = _user(tmp_path)
        assert second.stdout.readline().strip() == url  # joined, not a second server
        client = redis.Redis.from_url(url)
        assert client.ping()
        assert client.info("server")["valkey_version"]
        pid = int((tmp_path / "broker" / "valkey.pid").read_text())

        first.communicate("\n", timeout=30)
        assert client.ping()  # the second user still holds it

        second.communicate("\n", timeout=30)
        deadline = time.monotonic() + 15
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the server outlived its last user"
            time.sleep(0.1)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()


def test_the_server_needs_its_password(tmp_path):
    user = _user(tmp_path)
    try:
        url = user.stdout.readline().strip()
        port = url.rsplit(":", 1)[1].split("/")[0]
        anonymous = redis.Redis(host="127.0.0.1", port=int(port), socket_timeout=2)
        try:
            anonymous.ping()
            raise AssertionError("the embedded broker answered without its password")
        except redis.AuthenticationError:
            pass
    finally:
        user.communicate("\n", timeout=30)
