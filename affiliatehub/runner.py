"""`make run`: the whole system on one machine, in the foreground.

Starts the embedded PostgreSQL (unless DATABASE_URL is set), migrates, loads demo data once,
ensures an admin user, prints where to go, then runs the web server, a Celery worker and
Celery beat (and the sandbox traffic when there is a command for it). Ctrl-C stops them all.
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
from pathlib import Path

from affiliatehub import embedded

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def _manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([PYTHON, str(ROOT / "manage.py"), *args], check=True, env=env, cwd=ROOT)


def _admin_password(env: dict[str, str]) -> str:
    path = embedded.DATA_DIR / "admin-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    password = path.read_text().strip()
    _manage("ensure_admin", "--username", "admin", "--password-file", str(path), env=env)
    return password


def _children(env: dict[str, str], port: str) -> list[tuple[str, list[str]]]:
    manage = [PYTHON, str(ROOT / "manage.py")]
    celery = [PYTHON, "-m", "celery", "-A", "affiliatehub"]
    children = [
        ("web", [*manage, "runserver", f"0.0.0.0:{port}", "--noreload"]),
        ("worker", [*celery, "worker", "-l", "warning", "-Q", "celery,trades", "--concurrency", "2"]),
        ("beat", [*celery, "beat", "-l", "warning", "-S", "django_celery_beat.schedulers:DatabaseScheduler"]),
    ]
    if env.get("AFFILIATEHUB_DEMO", "1") != "0" and _has_command("sandbox_run"):
        children.append(("sandbox", [*manage, "sandbox_run", "--base-url", f"http://127.0.0.1:{port}"]))
    return children


def _has_command(name: str) -> bool:
    return any((ROOT / "apps").glob(f"*/management/commands/{name}.py"))


def _wait_for_web(port: str, procs: list[tuple[str, subprocess.Popen]], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for _, proc in procs):
            return  # the main loop reports which one exited
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # answering, even if unhealthy: /healthz says why
        except OSError:
            time.sleep(0.5)


def _stop(procs: list[tuple[str, subprocess.Popen]]) -> None:
    # SIGTERM to each main process only: Celery then shuts its pool down warmly itself.
    for _, proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 10
    for _, proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Whatever the child left in its process group (pool processes) goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def main() -> int:
    # Ctrl-C must stop everything even when started from a shell that ignores SIGINT for
    # background jobs; SIGTERM does the same.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "affiliatehub.settings.local")
    env["PYTHONUNBUFFERED"] = "1"
    port = env.get("PORT", "8000")
    if not env.get("DATABASE_URL"):
        # Children share this server through its socket URL. This process holds a handle on it
        # until they are gone; the server stops when the last process using it exits (a `make
        # test` running beside `make run` keeps it up).
        env["DATABASE_URL"] = embedded.database_url()

    procs: list[tuple[str, subprocess.Popen]] = []
    try:
        _manage("migrate", "--no-input", "-v", "0", env=env)
        if env.get("AFFILIATEHUB_DEMO", "1") != "0":
            _manage("demo_seed", env=env)
            # Poll configurations for the sandbox CRM and trading platform: reconciliation recovers
            # the webhooks the sandbox drops on purpose.
            _manage("sandbox_poll_setup", "--base-url", f"http://127.0.0.1:{port}", env=env)
            # The sandbox payment gateway: payout requests go to it, its results come back signed.
            _manage("sandbox_gateway_setup", "--base-url", f"http://127.0.0.1:{port}", env=env)
        password = _admin_password(env)
        for name, cmd in _children(env, port):
            procs.append((name, subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True)))
        _wait_for_web(port, procs)
        # Printed once the web server answers, so it is not lost in the start-up output.
        print(
            "\nAffiliateHub is running.\n"
            f"  Admin:     http://127.0.0.1:{port}/admin/   user: admin   password: {password}\n"
            f"  Health:    http://127.0.0.1:{port}/admin/health/\n"
            f"  API docs:  http://127.0.0.1:{port}/api/docs/\n"
            "  Ctrl-C stops everything.\n",
            flush=True,
        )
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping.", flush=True)
                    return proc.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping…", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        print(f"Start-up step failed: {exc}", file=sys.stderr)
        return exc.returncode or 1
    finally:
        _stop(procs)


if __name__ == "__main__":
    sys.exit(main())
