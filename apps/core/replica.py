"""Read-only traffic on a PostgreSQL streaming replica (issue 18 §5; docs/operations.md).

With `DATABASE_REPLICA_URL` set, settings add a `replica` database alias. Nothing reads it
unless a request opted in: `ReplicaReadsMiddleware` opens a *read scope* for safe methods (GET,
HEAD, OPTIONS) on the read-only URL prefixes (`AFFILIATEHUB_REPLICA_READ_PATHS`: the read API,
the health page and the cohort report), and `ReplicaRouter` sends the ORM's reads inside that
scope to the replica. No view names a database (`.using()`): the scope is a context variable
that the router consults. Raw SQL of those pages takes its connection from `read_connection()`.

Everything else reads and writes the primary:

- Celery workers, beat, management commands, webhooks, POSTs: no scope, so the router says
  nothing and Django uses `default`.
- A scope that wrote (any ORM write, e.g. an API key's "last used" stamp, a session saved)
  is pinned to the primary for the rest of the request: what it reads after a write includes
  that write.
- While a transaction is open on the primary (`atomic()`), reads stay on the primary too, so
  nothing inside a transaction reads a replica that may not have its writes yet.
- Sign-in state (sessions, users and groups, second-factor devices, lock-outs) and API keys
  always come from the primary: a key or session made a moment ago works at once, and a
  revoked key stops working at once, whatever the replica's lag.

The replica lags the primary by its replay delay (milliseconds on one network, more under
heavy write load): the read API already holds back rows younger than
`AFFILIATEHUB_API_SETTLE_SECONDS` (2 s) so a cursor never passes a row that is not committed
yet, which also covers a replica that is that far behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

from apps.core import conf

REPLICA = "replica"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Always read from the primary (app labels, or "app_label.model"): state that must read its own
# writes across requests, where a lagging replica would sign someone out or keep a revoked key.
PRIMARY_ONLY = frozenset(
    {
        "sessions",
        "auth",
        "contenttypes",
        "axes",
        "otp_totp",
        "otp_static",
        "django_otp",
        "accounts",
        "core.apikey",
    }
)


@dataclass
class ReadScope:
    """One request's permission to read the replica; `pinned` once it wrote anything."""

    pinned: bool = False


_scope: ContextVar[ReadScope | None] = ContextVar("affiliatehub_replica_scope", default=None)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads() -> Iterator[ReadScope]:
    """Reads in this block may use the replica (when one is configured and nothing pins them)."""
    scope = ReadScope()
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def _primary_in_transaction() -> bool:
    return connections[DEFAULT_DB_ALIAS].in_atomic_block


def read_alias(model=None) -> str:
    """The database alias a read of `model` (or raw SQL when None) goes to right now."""
    scope = _scope.get()
    if scope is None or scope.pinned or not replica_configured():
        return DEFAULT_DB_ALIAS
    if model is not None:
        meta = model._meta
        if meta.app_label in PRIMARY_ONLY or meta.label_lower in PRIMARY_ONLY:
            return DEFAULT_DB_ALIAS
    if _primary_in_transaction():
        return DEFAULT_DB_ALIAS
    return REPLICA


def read_connection():
    """The connection raw read-only SQL should use: the replica inside a read scope."""
    return connections[read_alias()]


def pin_to_primary() -> None:
    """The current scope wrote (or is about to): every later read in it goes to the primary."""
    scope = _scope.get()
    if scope is not None:
        scope.pinned = True


class ReplicaRouter:
    """DATABASE_ROUTERS entry: reads in a read scope to the replica, all writes to the primary."""

    def db_for_read(self, model, **hints) -> str:
        # Always an explicit alias: left to Django, a related object of a row read from the
        # replica would follow that row's database even after the request wrote.
        return read_alias(model)

    def db_for_write(self, model, **hints) -> str:
        pin_to_primary()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # Both aliases hold the same rows (the replica is a copy of the primary).
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        # The replica replays the primary's WAL: migrations run on the primary only.
        return False if db == REPLICA else None


def _read_paths() -> tuple[str, ...]:
    return conf.items("AFFILIATEHUB_REPLICA_READ_PATHS")


def is_read_only_request(request: HttpRequest) -> bool:
    """A safe method on one of the read-only URL prefixes."""
    return request.method in SAFE_METHODS and request.path.startswith(_read_paths())


class ReplicaReadsMiddleware:
    """Opens a read scope around read-only requests; a no-op without a replica."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_configured() or not is_read_only_request(request):
            return self.get_response(request)
        with replica_reads():
            return self.get_response(request)
