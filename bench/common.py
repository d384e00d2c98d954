"""Shared benchmark plumbing: a private database, servers in child processes, wrk runs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
BENCH_DB = "affiliatehub_bench"


def bench_database_url(name: str | None = None) -> str:
    """DATABASE_URL for a fresh private database (embedded server unless DATABASE_URL is set).

    Each benchmark passes its own name, so two benchmarks never drop each other's database;
    BENCH_DB_SUFFIX (optional) keeps two checkouts running the same benchmark on one server apart.
    """
    name = (f"{BENCH_DB}_{name}" if name else BENCH_DB) + os.environ.get("BENCH_DB_SUFFIX", "")
    import psycopg

    base = os.environ.get("DATABASE_URL")
    if not base:
        from affiliatehub import embedded

        base = embedded.database_url()
    admin_url = _with_database(base, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(base, name)


def _with_database(url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def bench_broker_url(db: int = 14) -> str:
    """The broker the benchmarks measure with: CELERY_BROKER_URL, else the embedded
    Redis-protocol server (affiliatehub/embedded.py), the same transport production runs.

    A benchmark that runs a worker should pass a Redis database of its own: benchmarks sharing
    one also share the "celery" queue, so one's worker runs (and one's purge drops) the other's
    tasks."""
    if os.environ.get("CELERY_BROKER_URL"):
        return os.environ["CELERY_BROKER_URL"]
    from affiliatehub import embedded

    return embedded.broker_url().rsplit("/", 1)[0] + f"/{db}"


def child_env(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="affiliatehub.settings.local",
        DATABASE_URL=database_url,
        DEBUG="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@contextmanager
def process(
    cmd: list[str], *, env: dict[str, str], ready_url: str | None = None, log: Path | None = None
):
    """Run a child process group for the duration of the block; wait for ready_url to answer."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        if ready_url:
            _wait_until_up(ready_url, proc)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if log:
            out.close()


def _wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before answering {url}")
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - loopback only
            return
        except urllib.error.HTTPError:
            return  # it answers; any status will do
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def gunicorn(
    app: str, port: int, *, env: dict[str, str], workers: int = 4, log: Path | None = None
):
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        app,
        "--workers",
        str(workers),
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    return process(cmd, env=env, ready_url=f"http://127.0.0.1:{port}/healthz", log=log)


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found; installing it from Debian's packages…", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True)
        if not shutil.which("wrk"):
            subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"], check=False, capture_output=True
            )
        path = shutil.which("wrk")
        if path:
            return path
    raise SystemExit(
        "The benchmark needs wrk (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk)."
    )


def run_wrk(
    url: str, requests_file: Path, *, connections: int, seconds: int, threads: int = 2
) -> dict:
    """Drive url from a separate process; returns throughput and latency percentiles (ms)."""
    wrk = ensure_wrk()
    threads = min(threads, connections)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as summary_file:
        summary_path = Path(summary_file.name)
    env = dict(
        os.environ,
        BENCH_REQUESTS=str(requests_file),
        BENCH_SUMMARY=str(summary_path),
        BENCH_THREADS=str(threads),
    )
    subprocess.run(
        [
            wrk,
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "requests.lua"),
            url,
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    raw = json.loads(summary_path.read_text())
    summary_path.unlink()
    seconds_run = raw["duration_us"] / 1e6
    return {
        "connections": connections,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds_run, 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": raw["errors"],
        "non_2xx": raw["non2xx"],
    }


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def latency_summary(latencies: list[float]) -> dict:
    """Processed count and p50/p95/p99/max (ms) of receipt-to-processed latencies."""
    latencies = sorted(latencies)
    return {
        "processed": len(latencies),
        "p50_ms": round(float(percentile(latencies, 50)), 1),
        "p95_ms": round(float(percentile(latencies, 95)), 1),
        "p99_ms": round(float(percentile(latencies, 99)), 1),
        "max_ms": round(float(latencies[-1]), 1) if latencies else None,
    }


def celery_worker(
    *,
    concurrency: int | str,
    queues: str | None = "celery,trades",
    name: str | None = None,
    quiet: bool = False,
) -> list[str]:
    """The command of one Celery worker process of the project (`quiet`: no heartbeat, gossip
    or mingle, so a benchmark measures the work and not the cluster chatter)."""
    cmd = [sys.executable, "-m", "celery", "-A", "affiliatehub", "worker", "-l", "warning"]
    if queues:
        cmd += ["-Q", queues]
    cmd += ["--concurrency", str(concurrency)]
    if name:
        cmd += ["-n", f"{name}@%h"]
    if quiet:
        cmd += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    return cmd


class CpuMeter:
    """CPU seconds spent by groups of processes over a window, and by the whole machine.

    `groups` maps a name to a function listing the group's processes (psutil.Process), called
    at the start and at the end of the window: a process that appears in between counts from
    zero, one that exits in between is lost (so keep the groups to long-lived processes: worker
    pools, web workers, database backends). The machine's busy time (every core, every
    process) minus the groups' is what else ran: on a shared machine, the share other jobs took.
    """

    def __init__(self, groups: dict[str, Callable[[], list]]):
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}
        self.machine_before = 0.0
        self.wall_before = 0.0

    @staticmethod
    def _busy() -> float:
        import psutil

        times = psutil.cpu_times()
        return sum(times) - times.idle - getattr(times, "iowait", 0.0)

    @staticmethod
    def _seconds(processes: list) -> dict[int, float]:
        import psutil

        out = {}
        for proc in processes:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            out[proc.pid] = times.user + times.system
        return out

    def start(self) -> None:
        self.before = {name: self._seconds(listed()) for name, listed in self.groups.items()}
        self.machine_before = self._busy()
        self.wall_before = time.monotonic()

    def stop(self) -> dict[str, float]:
        """{group: CPU seconds, ..., "machine": busy CPU seconds, "wall": seconds}."""
        out = {}
        for name, listed in self.groups.items():
            after = self._seconds(listed())
            before = self.before.get(name, {})
            out[name] = round(sum(t - before.get(pid, 0.0) for pid, t in after.items()), 2)
        out["machine"] = round(self._busy() - self.machine_before, 2)
        out["wall"] = round(time.monotonic() - self.wall_before, 2)
        return out


def process_tree(pid: int) -> list:
    """A process and its descendants (psutil.Process), or nothing when it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def server_processes(database_url: str) -> list:
    """Every process of the PostgreSQL server holding `database_url` (postmaster, backends,
    background workers), found through its data directory's postmaster.pid."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
    pid = int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
    return process_tree(pid)


def listening_processes(port: int) -> list:
    """The process tree of whatever listens on 127.0.0.1:`port` (a web server's master)."""
    import psutil

    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            tree = process_tree(conn.pid)
            parent = tree[0].parent() if tree else None
            # A gunicorn worker may hold the socket too: climb to the master.
            if parent is not None and "gunicorn" in " ".join(parent.cmdline()):
                return process_tree(parent.pid)
            return tree
    return []
