"""`make run`: the whole system on one machine, in the foreground, under a small supervisor.

Starts the embedded PostgreSQL and broker (unless DATABASE_URL / CELERY_BROKER_URL are set),
migrates, loads demo data once, ensures an admin user, then runs the production web server
(gunicorn), a Celery worker, Celery beat and the sandbox traffic. A child that exits unexpectedly
is restarted with backoff (logged, counted in .data/run/supervisor.json and on the health page)
instead of taking the others down. Ctrl-C (or SIGTERM) stops them all and leaves nothing running.

`AFFILIATEHUB_DEV_SERVER=1 make run` uses Django's development server instead of gunicorn.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from affiliatehub import embedded
from affiliatehub.supervisor import ChildState, SupervisorState, now_iso

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PASSWORD_FILE = embedded.DATA_DIR / "admin-password"

# A child that ran this long before exiting is restarted at once; one that keeps dying waits
# 1, 2, 4 ... up to MAX_BACKOFF seconds between attempts.
STABLE_AFTER = 60.0
MAX_BACKOFF = 60.0


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)


def _password_file() -> Path:
    """The demo admin's password (the demo staff users share it), made once."""
    PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
    if not PASSWORD_FILE.exists():
        PASSWORD_FILE.write_text(secrets.token_urlsafe(12))
        PASSWORD_FILE.chmod(0o600)
    return PASSWORD_FILE


def _admin_password(env: dict[str, str]) -> str:
    _password_file()
    _manage("ensure_admin", "--username", "admin", "--password-file", str(PASSWORD_FILE), env=env)
    return PASSWORD_FILE.read_text().strip()


def web_command(env: dict[str, str], port: str) -> list[str]:
    """gunicorn with sync workers (PERFORMANCE.md: they beat threads for Django), as deployed.

    Each worker holds at most one database connection (CONN_MAX_AGE), so WEB_CONCURRENCY bounds
    the web server's connections; workers are recycled after a few thousand requests (jitter
    keeps them from recycling together) so a slow leak can't grow for days.
    """
    host = env.get("HOST", "127.0.0.1")
    if env.get("AFFILIATEHUB_DEV_SERVER", "0") not in ("", "0"):
        return [PYTHON, str(ROOT / "manage.py"), "runserver", f"{host}:{port}", "--noreload"]
    return [
        PYTHON, "-m", "gunicorn", "affiliatehub.wsgi",
        "--bind", f"{host}:{port}",
        "--workers", env.get("WEB_CONCURRENCY", "3"),
        "--worker-class", "sync",
        "--timeout", "60",
        "--graceful-timeout", "10",
        "--max-requests", "20000",
        "--max-requests-jitter", "2000",
        "--worker-tmp-dir", "/dev/shm" if Path("/dev/shm").is_dir() else "/tmp",  # noqa: S108
    ]  # fmt: skip


def children(env: dict[str, str], port: str) -> list[tuple[str, list[str]]]:
    manage = [PYTHON, str(ROOT / "manage.py")]
    celery = [PYTHON, "-m", "celery", "-A", "affiliatehub"]
    result = [
        ("web", web_command(env, port)),
        (
            "worker",
            [
                *celery,
                "worker",
                "-l",
                "warning",
                "-Q",
                "celery,trades",
                "--concurrency",
                env.get("WORKER_CONCURRENCY", "2"),
            ],
        ),
        (
            "beat",
            [
                *celery,
                "beat",
                "-l",
                "warning",
                "-S",
                "django_celery_beat.schedulers:DatabaseScheduler",
            ],
        ),
    ]
    if env.get("AFFILIATEHUB_DEMO", "1") != "0":
        rate = env.get("AFFILIATEHUB_SANDBOX_RATE", "5")
        result.append(
            (
                "sandbox",
                [*manage, "sandbox_run", "--base-url", f"http://127.0.0.1:{port}", "--rate", rate],
            )
        )
    return result


@dataclass
class Child:
    name: str
    cmd: list[str]
    state: ChildState
    proc: subprocess.Popen | None = None
    started: float = 0.0
    restart_at: float | None = None
    backoff: float = 1.0
    log: list[str] = field(default_factory=list)

    def start(self, env: dict[str, str]) -> None:
        # Its own process group: Ctrl-C reaches the runner only, which stops children in order,
        # and whatever a child leaves behind (pool processes) is killed with its group.
        self.proc = subprocess.Popen(self.cmd, env=env, cwd=ROOT, start_new_session=True)
        self.started = time.monotonic()
        self.restart_at = None
        self.state.pid = self.proc.pid
        self.state.started_at = now_iso()


class Supervisor:
    def __init__(self, env: dict[str, str], port: str, password: str):
        self.env, self.port, self.password = env, port, password
        self.state = SupervisorState(runner_pid=os.getpid(), started_at=now_iso())
        self.children: list[Child] = []
        for name, cmd in children(env, port):
            child_state = ChildState(name=name)
            self.state.children[name] = child_state
            self.children.append(Child(name=name, cmd=cmd, state=child_state))

    def start_all(self) -> None:
        for child in self.children:
            child.start(self.env)
        self.state.write()
        _wait_for_web(self.port, [c.proc for c in self.children if c.proc is not None])
        self.banner()

    def banner(self, note: str = "") -> None:
        print(
            f"\n{note}AffiliateHub is running.\n"
            f"  Admin:     http://127.0.0.1:{self.port}/admin/   user: admin   password: "
            f"{self.password}\n"
            f"             (the password is kept in {PASSWORD_FILE})\n"
            f"  Health:    http://127.0.0.1:{self.port}/admin/health/\n"
            f"  API docs:  http://127.0.0.1:{self.port}/api/docs/\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )

    def tick(self) -> None:
        """Notice exits, schedule restarts with backoff, and restart those that are due."""
        now = time.monotonic()
        for child in self.children:
            if (
                child.proc is not None
                and child.restart_at is None
                and child.proc.poll() is not None
            ):
                code = child.proc.returncode
                _kill_group(child.proc)
                ran = now - child.started
                child.backoff = 1.0 if ran >= STABLE_AFTER else min(child.backoff * 2, MAX_BACKOFF)
                child.restart_at = now + (0.0 if ran >= STABLE_AFTER else child.backoff)
                child.state.last_exit_code = code
                child.state.last_exit_at = now_iso()
                child.state.pid = None
                self.state.write()
                print(
                    f"[supervisor] {child.name} exited with {code} after {ran:.0f} s; "
                    f"restarting in {child.restart_at - now:.0f} s.",
                    file=sys.stderr,
                    flush=True,
                )
            if child.restart_at is not None and now >= child.restart_at:
                child.state.restarts += 1
                child.start(self.env)
                self.state.write()
                if child.name == "web":
                    _wait_for_web(self.port, [child.proc])
                self.banner(
                    note=f"[supervisor] restarted {child.name} (restart {child.state.restarts}).\n"
                )

    def stop_all(self) -> None:
        # A second Ctrl-C (or the SIGINT a terminal sends the whole group) must not cut the clean-up
        # short and leave orphans holding the embedded servers: stopping is not interruptible.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop([c.proc for c in self.children if c.proc is not None])
        for child in self.children:
            child.state.pid = None
        self.state.write()


def _wait_for_web(port: str, procs: list[subprocess.Popen], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            return  # the supervisor notices and restarts it
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # answering, even if unhealthy: /healthz says why
        except OSError:
            time.sleep(0.5)


def _kill_group(proc: subprocess.Popen) -> None:
    """Whatever the child left in its process group (pool processes) goes with it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _stop(procs: list[subprocess.Popen]) -> None:
    # SIGTERM to each main process only: gunicorn and Celery then stop their own workers warmly.
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
        _kill_group(proc)


def main() -> int:
    # Ctrl-C must stop everything even when started from a shell that ignores SIGINT for
    # background jobs; SIGTERM does the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "affiliatehub.settings.local")
    env["PYTHONUNBUFFERED"] = "1"
    port = env.get("PORT", "8000")
    embedded.DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Children share the embedded servers through these URLs. This process holds a handle on
    # each until it exits; a server stops when the last process using it exits (a `make test`
    # running beside `make run` keeps them up).
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = embedded.database_url()
    if not env.get("CELERY_BROKER_URL"):
        env["CELERY_BROKER_URL"] = embedded.broker_url()

    supervisor: Supervisor | None = None
    try:
        _manage("migrate", "--no-input", "-v", "0", env=env)
        if env.get("AFFILIATEHUB_DEMO", "1") != "0":
            _manage(
                "demo_seed",
                "--staff-password-file",
                str(_password_file()),
                "--base-url",
                f"http://127.0.0.1:{port}",
                env=env,
            )
            # Poll configurations for the sandbox CRM and trading platform: reconciliation recovers
            # the webhooks the sandbox drops on purpose.
            _manage("sandbox_poll_setup", "--base-url", f"http://127.0.0.1:{port}", env=env)
            # The sandbox payment gateway: payout requests go to it, its results come back signed.
            _manage("sandbox_gateway_setup", "--base-url", f"http://127.0.0.1:{port}", env=env)
        password = _admin_password(env)
        supervisor = Supervisor(env, port, password)
        supervisor.start_all()
        while True:
            supervisor.tick()
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"Start-up step failed: {exc}", file=sys.stderr)
        return exc.returncode or 1
    finally:
        if supervisor is not None:
            supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
