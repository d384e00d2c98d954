"""The scale-out topology on one machine (issue 18 §5; docs/operations.md, "Topology").

    python -m tools.topology up        # start it all, print the addresses, Ctrl-C stops it

What it starts, every piece in one temporary directory that is removed again:

- a PostgreSQL primary of its own (initdb, on a free port) and a streaming replica of it
  (pg_basebackup -R, hot standby, on another port), both run by the `postgres` user's
  binaries (/usr/lib/postgresql/<version>/bin) as an unprivileged user;
- PgBouncer in transaction pooling in front of both (`affiliatehub` -> primary,
  `affiliatehub_replica` -> replica), also unprivileged;
- a RabbitMQ virtual host of its own on the machine's RabbitMQ (127.0.0.1:5672, guest), deleted
  at the end;
- two gunicorn web instances (production settings) behind one HAProxy address, health-checked
  on /healthz, requests retried on the other instance when one dies;
- three Celery workers (two on `celery`, one on `trades` alone) and one beat.

Why a primary of its own rather than the machine's server: a base backup copies a whole cluster,
and the machine's server holds every other checkout's test databases (gigabytes); a fresh cluster
backs up in a second. PgBouncer and HAProxy come from Debian (`apt-get install -y pgbouncer
haproxy`, done here when missing and running as root).

`seed` and `verify` run inside Django against the topology's database (the test calls them as
subprocesses): `seed` creates an affiliate with tracking links and plans, a staff user with a
session for the health page and an API key for the read API; `verify` reports what the
exactly-once checks need.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DATABASE = "affiliatehub"
REPLICA_DATABASE = "affiliatehub_replica"
RABBITMQ = "127.0.0.1:5672"


class TopologyError(RuntimeError):
    """A piece of the topology could not be started."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check, *, timeout: float, what: str, interval: float = 0.1):
    """Call `check` until it returns something truthy; TopologyError after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # any failure means "not yet"
            last = exc
        else:
            if result:
                return result
        time.sleep(interval)
    raise TopologyError(f"{what} not ready after {timeout:.0f} s (last error: {last!r})")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's binaries (Debian's layout), or AFFILIATEHUB_PG_BINDIR."""
    if os.environ.get("AFFILIATEHUB_PG_BINDIR"):
        return Path(os.environ["AFFILIATEHUB_PG_BINDIR"])
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise TopologyError("No PostgreSQL server binaries under /usr/lib/postgresql/*/bin.")
    return Path(found[-1]).parent


def ensure_packages(*commands: str) -> None:
    """Install pgbouncer / haproxy from Debian when missing (needs root)."""
    missing = [name for name in commands if shutil.which(name) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise TopologyError(f"Missing {', '.join(missing)}; install with apt-get (as root).")
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", *missing],
        check=True,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def pgbouncer_version() -> tuple[int, int]:
    out = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True).stdout
    words = out.split()
    major, minor = words[1].split(".")[:2]
    return int(major), int(minor)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (a gunicorn master and its workers, a worker's pool)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.kill(self.stop_signal)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=timeout)
        # Whatever is left of the group (pool children of a killed worker) goes too.
        self.kill(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Topology:
    """Start with `start()` (or `with Topology() as topology:`); `stop()` removes everything."""

    web_instances: int = 2
    root: Path | None = None
    processes: dict[str, Process] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    vhost: str = ""
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(64))
    timings: dict[str, float] = field(default_factory=dict)
    seeded: dict = field(default_factory=dict)
    _run_as: pwd.struct_passwd | None = None
    _bindir: Path | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Topology:
        started = time.monotonic()
        self.root = Path(tempfile.mkdtemp(prefix="affiliatehub-topology-"))
        self.root.chmod(0o755)
        ensure_packages("pgbouncer", "haproxy")
        self._bindir = postgres_bindir()
        # PostgreSQL and PgBouncer refuse to run as root: the `postgres` user runs them then.
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise TopologyError(
                    "Running as root needs the `postgres` user (PostgreSQL's package makes it) "
                    "to run PostgreSQL and PgBouncer."
                ) from None
        for name in ("primary", "replica", "pgbouncer", "haproxy", *self._web_names()):
            self.ports[name] = free_port()
        self._step("primary", self._start_primary)
        self._step("replica", self._start_replica)
        self._step("pgbouncer", self._start_pgbouncer)
        self._step("vhost", self._create_vhost)
        self._step("migrate", self._migrate)
        self._step("seed", self._seed)
        self._step("processes", self._start_app_processes)
        self._step("ready", self._wait_ready)
        self.timings["total"] = time.monotonic() - started
        return self

    def _step(self, name: str, func) -> None:
        began = time.monotonic()
        func()
        self.timings[name] = time.monotonic() - began

    def stop(self) -> None:
        """Stop every process this topology started, drop its vhost, remove its directory.
        Safe to call twice and after a failed start."""
        for name in reversed(list(self.processes)):
            self.processes[name].stop()
        self.processes.clear()
        if self.vhost:
            subprocess.run(
                ["rabbitmqctl", "-q", "delete_vhost", self.vhost], check=False, capture_output=True
            )
            self.vhost = ""
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root, ignore_errors=True)

    # --- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The load balancer: the one address clients use."""
        return f"http://127.0.0.1:{self.ports['haproxy']}"

    def dsn(self, server: str, database: str = DATABASE) -> str:
        """psycopg DSN straight to `primary` or `replica`, or through `pgbouncer`."""
        return f"postgresql://postgres@127.0.0.1:{self.ports[server]}/{database}"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of the hub (production settings, via PgBouncer)."""
        threshold = "5" if pgbouncer_version() >= (1, 21) else "0"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DATABASE_", "CELERY_", "AFFILIATEHUB_", "DJANGO_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="affiliatehub.settings.production",
            SECRET_KEY=self.secret_key,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="false",
            SECURE_PROXY_SSL_HEADER="",
            DATABASE_URL=self.dsn("pgbouncer"),
            DATABASE_REPLICA_URL=self.dsn("pgbouncer", REPLICA_DATABASE),
            # PgBouncer transaction pooling: no named prepared statements before 1.21 (README),
            # no server-side cursors outliving their transaction.
            DATABASE_PREPARE_THRESHOLD=threshold,
            DATABASE_DISABLE_SERVER_SIDE_CURSORS="true",
            CELERY_BROKER_URL=f"amqp://guest:guest@{RABBITMQ}/{self.vhost}",
            AFFILIATEHUB_TRUSTED_PROXIES="127.0.0.1",
            AFFILIATEHUB_OUTBOUND_ALLOWED_HOSTS="127.0.0.1",
            AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS="5",
            # The machine's RabbitMQ keeps its default consumer_timeout (30 min): a retry's
            # countdown must stay below it (docs/operations.md, "RabbitMQ").
            AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS="1500",
            # Every simulated click comes from 127.0.0.1: no per-client click limit here.
            AFFILIATEHUB_CLICK_THROTTLE_RATE="",
            AFFILIATEHUB_METRICS_TOKEN=secrets.token_urlsafe(32),
            LOG_LEVEL="WARNING",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def direct_env(self) -> dict[str, str]:
        """For migrations, seeding and the traffic's own bookkeeping: straight to the primary."""
        return self.env(DATABASE_URL=self.dsn("primary"), DATABASE_REPLICA_URL="")

    # --- PostgreSQL ---------------------------------------------------------------------

    def _as_pg_user(self) -> dict:
        if self._run_as is None:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid}

    def _own(self, path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
        return path

    def _pg(self, tool: str) -> str:
        return str(self._bindir / tool)

    def _run_pg(self, *args: str) -> None:
        result = subprocess.run(
            list(args), capture_output=True, text=True, cwd=self.root, **self._as_pg_user()
        )
        if result.returncode:
            raise TopologyError(f"{Path(args[0]).name} failed: {result.stderr[-2000:]}")

    def _start_postgres(self, name: str, datadir: Path) -> None:
        self.spawn(
            name,
            [
                self._pg("postgres"),
                "-D",
                str(datadir),
                "-c",
                f"port={self.ports[name]}",
                "-c",
                f"unix_socket_directories={self._own(self.root / 'sockets')}",
            ],
            env={"PATH": os.environ.get("PATH", "")},
            stop_signal=signal.SIGINT,  # fast shutdown: no waiting for clients
            **self._as_pg_user(),
        )
        wait_for(lambda: self._psql_ok(name), timeout=30, what=f"PostgreSQL {name}", interval=0.2)

    def _psql_ok(self, name: str) -> bool:
        if not self.processes[name].alive():
            raise TopologyError(f"PostgreSQL {name} exited:\n{self.processes[name].tail()}")
        import psycopg

        with psycopg.connect(self.dsn(name, "postgres"), connect_timeout=2) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)

    def _start_primary(self) -> None:
        datadir = self._own(self.root / "primary")
        self._run_pg(
            self._pg("initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        )  # fmt: skip
        with (datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# affiliatehub topology\n"
                "listen_addresses = '127.0.0.1'\n"
                "max_connections = 150\n"
                "shared_buffers = 64MB\n"
                "wal_level = replica\n"
                "max_wal_senders = 4\n"
                "hot_standby = on\n"
                "shared_preload_libraries = 'pg_stat_statements'\n"
                "pg_stat_statements.track = all\n"
                # A throwaway cluster: no fsync (the replica still streams every commit).
                "fsync = off\n"
                "full_page_writes = off\n"
            )
        # initdb's pg_hba.conf trusts local connections, replication from 127.0.0.1 included.
        self._start_postgres("primary", datadir)
        import psycopg

        with psycopg.connect(self.dsn("primary", "postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        with psycopg.connect(self.dsn("primary"), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")

    def _start_replica(self) -> None:
        datadir = self._own(self.root / "replica")
        datadir.chmod(0o700)
        self._run_pg(
            self._pg("pg_basebackup"), "-h", "127.0.0.1", "-p", str(self.ports["primary"]),
            "-U", "postgres", "-D", str(datadir), "-R", "-X", "stream", "--checkpoint=fast",
            "--no-sync",
        )  # fmt: skip
        self._start_postgres("replica", datadir)
        import psycopg

        with psycopg.connect(self.dsn("replica"), autocommit=True) as conn:
            if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                raise TopologyError("The replica is not in recovery (not a standby).")

    def _start_pgbouncer(self) -> None:
        directory = self._own(self.root / "pgbouncer")
        (directory / "userlist.txt").write_text('"postgres" ""\n')
        ini = directory / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{DATABASE} = host=127.0.0.1 port={self.ports['primary']} dbname={DATABASE}\n"
            f"{REPLICA_DATABASE} = host=127.0.0.1 port={self.ports['replica']} dbname={DATABASE}\n"
            "\n[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.ports['pgbouncer']}\n"
            f"unix_socket_dir = {directory}\n"
            "auth_type = trust\n"
            f"auth_file = {directory / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            "admin_users = postgres\n"
            "max_client_conn = 500\n"
            "default_pool_size = 20\n"
            "server_reset_query =\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"logfile = {directory / 'pgbouncer.log'}\n"
            f"pidfile = {directory / 'pgbouncer.pid'}\n"
        )
        for path in directory.iterdir():
            if self._run_as is not None:
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
        self.spawn("pgbouncer", ["pgbouncer", str(ini)], **self._as_pg_user())
        wait_for(lambda: port_open(self.ports["pgbouncer"]), timeout=15, what="PgBouncer")

    # --- RabbitMQ -----------------------------------------------------------------------

    def _create_vhost(self) -> None:
        name = f"affiliatehub-topology-{secrets.token_hex(4)}"
        for args in (
            ["add_vhost", name],
            ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        ):
            result = subprocess.run(
                ["rabbitmqctl", "-q", *args], capture_output=True, text=True, check=False
            )
            if result.returncode:
                raise TopologyError(f"rabbitmqctl {args[0]} failed: {result.stderr}")
            self.vhost = name

    # --- the hub ------------------------------------------------------------------------

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [PYTHON, str(ROOT / "manage.py"), *args],
            cwd=ROOT,
            env=env or self.direct_env(),
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise TopologyError(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
        return result.stdout

    def _migrate(self) -> None:
        # Migrations go to the primary directly, not through transaction pooling.
        self.manage("migrate", "--no-input", "-v", "0")
        self.manage("collectstatic", "--no-input", "-v", "0")

    def _seed(self) -> None:
        result = subprocess.run(
            [PYTHON, "-m", "tools.topology", "seed"],
            cwd=ROOT,
            env=self.direct_env(),
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise TopologyError(f"seed failed:\n{result.stderr[-3000:]}")
        self.seeded = json.loads(result.stdout.strip().splitlines()[-1])

    def _web_names(self) -> list[str]:
        return [f"web{n}" for n in range(1, self.web_instances + 1)]

    def _start_app_processes(self) -> None:
        env = self.env()
        for name in self._web_names():
            self.spawn(
                name,
                [
                    PYTHON, "-m", "gunicorn", "affiliatehub.wsgi",
                    "--bind", f"127.0.0.1:{self.ports[name]}",
                    "--workers", "2", "--worker-class", "sync",
                    "--timeout", "30", "--graceful-timeout", "5", "--access-logfile", "-",
                    "--worker-tmp-dir", str(self.root),
                ],
                env=env,
            )  # fmt: skip
        celery = [PYTHON, "-m", "celery", "-A", "affiliatehub"]
        for name, queues in (("worker1", "celery"), ("worker2", "celery"), ("worker3", "trades")):
            self.spawn(
                name,
                [
                    *celery, "worker", "-l", "info", "-Q", queues, "-n", f"{name}@%h",
                    "--concurrency", "1", "--without-gossip", "--without-mingle",
                ],
                env=env,
            )  # fmt: skip
        self.spawn(
            "beat",
            [
                *celery, "beat", "-l", "warning",
                "-S", "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile", str(self.root / "beat.pid"),
            ],
            env=env,
        )  # fmt: skip
        self._start_haproxy()

    def _start_haproxy(self) -> None:
        servers = "".join(
            f"    server {name} 127.0.0.1:{self.ports[name]} check\n" for name in self._web_names()
        )
        config = self.root / "haproxy.cfg"
        config.write_text(
            "global\n"
            "    maxconn 1024\n"
            "defaults\n"
            "    mode http\n"
            "    timeout connect 2s\n"
            "    timeout client 30s\n"
            "    timeout server 30s\n"
            "    option forwardfor\n"
            # A dead instance's requests go to the other one: connection refused, reset or an
            # empty answer (killed mid-request) are retried there. Webhooks are idempotent on
            # their id, so a retried POST that was already stored is answered 200.
            "    retries 3\n"
            "    option redispatch 1\n"
            "    retry-on conn-failure empty-response response-timeout\n"
            "frontend hub\n"
            f"    bind 127.0.0.1:{self.ports['haproxy']}\n"
            "    option http-buffer-request\n"
            "    default_backend web\n"
            "backend web\n"
            "    balance roundrobin\n"
            "    option httpchk GET /healthz\n"
            "    http-check expect status 200\n"
            "    default-server inter 500ms fall 2 rise 2\n"
            f"{servers}"
        )
        self.spawn("haproxy", ["haproxy", "-db", "-f", str(config)])

    def _wait_ready(self) -> None:
        for name in self._web_names():
            wait_for(
                lambda name=name: self._answers(f"http://127.0.0.1:{self.ports[name]}/healthz"),
                timeout=60,
                what=f"gunicorn {name}",
                interval=0.25,
            )
        wait_for(lambda: self._answers(f"{self.url}/healthz"), timeout=30, what="HAProxy")

    def _answers(self, url: str) -> bool:
        for process in self.processes.values():
            if not process.alive():
                raise TopologyError(f"{process.name} exited:\n{process.tail()}")
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own address
            return response.status == 200

    # --- processes ----------------------------------------------------------------------

    def spawn(
        self, name: str, argv: list[str], *, env=None, stop_signal=signal.SIGTERM, **kwargs
    ) -> Process:
        log = self.root / f"{name}.log"
        with log.open("ab") as out:
            popen = subprocess.Popen(
                argv,
                cwd=ROOT if "user" not in kwargs else self.root,
                env=env if env is not None else self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: killed as a whole
                **kwargs,
            )
        if "user" in kwargs:
            os.chown(log, self._run_as.pw_uid, self._run_as.pw_gid)
        process = Process(name=name, popen=popen, log=log, stop_signal=stop_signal)
        self.processes[name] = process
        return process

    def pgbouncer_stats(self) -> dict[str, int]:
        """Transactions PgBouncer pooled per database (its admin console's SHOW STATS)."""
        import psycopg

        dsn = self.dsn("pgbouncer", "pgbouncer")
        # The admin console speaks the simple query protocol only: a client-side cursor.
        with psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
            cursor = conn.execute("SHOW STATS")
            columns = [column.name for column in cursor.description]
            return {
                row[columns.index("database")]: int(row[columns.index("total_xact_count")])
                for row in cursor.fetchall()
            }

    def logs(self, lines: int = 20) -> str:
        return "\n".join(
            f"--- {name} ---\n{process.tail(lines)}" for name, process in self.processes.items()
        )


# --- inside Django: seed and verify ---------------------------------------------------------


def _django():
    import django

    django.setup()


def seed() -> dict:
    """An affiliate whose links the sandbox clicks, plans that book ledger lines for both
    brands (a hybrid CPA on the casino, a lot rebate on the broker), licences for every
    simulated country, a sweeper that looks every 5 s, an API key for the read API and a staff
    session for the health page and the cohort report."""
    _django()
    import datetime as dt
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from apps.affiliates.services import (
        affiliate_create,
        campaign_create,
        creative_approve,
        creative_create,
        tracking_link_create,
    )
    from apps.commissions.services import plan_assignment_create, plan_create
    from apps.compliance.models import Jurisdiction
    from apps.compliance.services import brand_licence_set
    from apps.core.audit import audited_save
    from apps.core.services import apikey_create
    from apps.sandbox.services import sandbox_endpoints_ensure
    from apps.sandbox.simulator import BRANDS, COUNTRIES

    for code in COUNTRIES:
        audited_save(Jurisdiction(code=code, name=code), actor_label="topology")
        for brand in BRANDS:
            brand_licence_set(brand=brand, country=code, is_active=True, note="topology")
    affiliate = affiliate_create(
        name="Topology Media", email="topology@example.com", actor_label="topology"
    )
    for brand in BRANDS:
        campaign = campaign_create(affiliate=affiliate, name=f"{brand} topology", brand=brand)
        creative = creative_approve(
            creative=creative_create(campaign=campaign, name="banner"), acting_user=None
        )
        tracking_link_create(
            affiliate=affiliate,
            campaign=campaign,
            creative=creative,
            landing_url=f"https://{brand}.example/landing",
        )
    hybrid = plan_create(
        name="Topology hybrid",
        kind="hybrid",
        currency="EUR",
        terms={"cpa_amount": Decimal(50), "cpa_min_ftd": Decimal(20), "cpa_kyc_required": False,
               "revshare_percent": Decimal(20)},
        actor_label="topology",
    )  # fmt: skip
    rebate = plan_create(
        name="Topology lot rebate",
        kind="lot_rebate",
        currency="USD",
        lot_rates={"fx_major": Decimal(5), "fx_minor": Decimal(6), "metals": Decimal(8),
                   "indices": Decimal(1), "energy": Decimal(3), "crypto": Decimal(2)},
        actor_label="topology",
    )  # fmt: skip
    since = timezone.now().date() - dt.timedelta(days=1)
    plan_assignment_create(affiliate=affiliate, brand="spinpalace", plan=hybrid, valid_from=since)
    plan_assignment_create(affiliate=affiliate, brand="tradeking", plan=rebate, valid_from=since)
    every_5s, _ = IntervalSchedule.objects.get_or_create(every=5, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="integrations.sweep_inbound_events").update(interval=every_5s)
    user = get_user_model().objects.create_user(
        username="topology-staff", password=None, is_staff=True
    )
    user.groups.set(Group.objects.filter(name__in=["Integrations", "Retention"]))
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    key = apikey_create(
        name="topology-reader",
        scopes=["events:read", "players:read", "commissions:read", "affiliates:read"],
    )
    # The simulated systems' integrations exist before the web instances cache their lookups.
    sandbox_endpoints_ensure()
    return {
        "affiliate_id": affiliate.pk,
        "session_key": session.session_key,
        "api_key": key.plaintext,
    }


def verify() -> dict:
    """What the exactly-once checks need, from the primary: the sandbox's accepted deliveries
    against the stored events, their states, and facts and ledger lines per event."""
    _django()
    from django.db.models import Count

    from apps.commissions.models import CommissionEntry
    from apps.integrations.models import InboundEvent
    from apps.players.facts import Deposit, RevenueReport, Trade
    from apps.players.models import Player
    from apps.sandbox.models import SandboxSentEvent

    accepted = set(
        SandboxSentEvent.objects.filter(dropped=False, last_status__in=[200, 202]).values_list(
            "integration_slug", "webhook_id"
        )
    )
    answered_other = dict(
        SandboxSentEvent.objects.filter(dropped=False)
        .exclude(last_status__in=[200, 202])
        .values_list("webhook_id", "last_status")
    )
    events = {
        (slug, webhook_id): (pk, event_type, status)
        for pk, slug, webhook_id, event_type, status in InboundEvent.objects.values_list(
            "pk", "integration__slug", "webhook_id", "event_type", "status"
        )
    }
    statuses: dict[str, int] = {}
    for _, _, status in events.values():
        statuses[status] = statuses.get(status, 0) + 1
    processed = {
        pk: event_type for pk, event_type, status in events.values() if status == "processed"
    }

    def per_event(model, event_type: str) -> dict:
        counts = dict(
            model.objects.values("source_event_id")
            .annotate(n=Count("id"))
            .values_list("source_event_id", "n")
        )
        expected = [pk for pk, kind in processed.items() if kind == event_type]
        return {
            "events": len(expected),
            "rows": sum(counts.values()),
            "events_without_row": sum(1 for pk in expected if pk not in counts),
            "events_with_several_rows": sum(1 for n in counts.values() if n > 1),
            "rows_of_other_events": sum(1 for pk in counts if processed.get(pk) != event_type),
        }

    ledger_groups = (
        CommissionEntry.objects.filter(source_event_id__isnull=False)
        .values("source_event_id", "kind", "affiliate_id")
        .annotate(n=Count("id"))
    )
    # Deals that book a lot rebate under the broker's plan (close side): closing deals of the
    # affiliate's players on the broker's brand.
    rebate_trades = set(
        Trade.objects.filter(
            player__affiliate__isnull=False,
            player__brand="tradeking",
            entry=Trade.Entry.OUT,
            volume_lots__gt=0,
            source_event_id__isnull=False,
        ).values_list("source_event_id", flat=True)
    )
    rebate_lines = dict(
        CommissionEntry.objects.filter(kind="lot_rebate")
        .values("source_event_id")
        .annotate(n=Count("id"))
        .values_list("source_event_id", "n")
    )
    cpa_players = dict(
        CommissionEntry.objects.filter(kind="cpa")
        .values("player_id")
        .annotate(n=Count("id"))
        .values_list("player_id", "n")
    )
    registrations = sum(1 for kind in processed.values() if kind == "player.registered")
    return {
        "accepted": len(accepted),
        "not_accepted": answered_other,
        "stored": len(events),
        "accepted_missing": sorted(f"{s}/{w}" for s, w in accepted - set(events))[:20],
        "statuses": statuses,
        "unprocessed_accepted": sorted(
            f"{events[key][1]}:{events[key][2]}"
            for key in accepted
            if key in events and events[key][2] != "processed"
        )[:20],
        "players": Player.objects.count(),
        "registrations": registrations,
        "deposits": per_event(Deposit, "deposit.created"),
        "revenue": per_event(RevenueReport, "revenue.reported"),
        "trades": per_event(Trade, "trade.closed"),
        "ledger_lines": CommissionEntry.objects.count(),
        "ledger_duplicates": sum(1 for group in ledger_groups if group["n"] > 1),
        "rebate_trades": len(rebate_trades),
        "rebate_trades_without_line": len(rebate_trades - set(rebate_lines)),
        "rebate_lines_of_other_events": len(set(rebate_lines) - rebate_trades),
        "rebate_events_with_several_lines": sum(1 for n in rebate_lines.values() if n > 1),
        "cpa_lines": sum(cpa_players.values()),
        "players_with_several_cpa_lines": sum(1 for n in cpa_players.values() if n > 1),
    }


def _up() -> None:
    topology = Topology()
    stop = False

    def interrupt(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, interrupt)
    try:
        topology.start()
        print(f"Hub (HAProxy): {topology.url}")
        print(f"PgBouncer: {topology.dsn('pgbouncer')} (+ /{REPLICA_DATABASE})")
        print(f"Primary: {topology.dsn('primary')}  replica: {topology.dsn('replica')}")
        print(f"RabbitMQ vhost: {topology.vhost}; logs in {topology.root}")
        print(f"Staff session cookie: sessionid={topology.seeded['session_key']}")
        print(f"Read API key: {topology.seeded['api_key']}")
        print(f"Started in {topology.timings['total']:.1f} s. Ctrl-C stops everything.")
        while not stop:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        topology.stop()


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "up"
    if command in ("seed", "verify"):
        print(json.dumps(seed() if command == "seed" else verify()))
        return 0
    if command == "up":
        _up()
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
