"""Read-replica routing (apps.core.replica, issue 18 §5): which alias each read goes to.

The suite has no replica (test settings drop it), so these tests add a `replica` entry to
settings.DATABASES for the router to see and check its decisions; nothing connects to it.
tests/topology/ runs the same routing against a real streaming replica.
"""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from apps.core.models import ApiKey
from apps.core.replica import (
    REPLICA,
    ReplicaReadsMiddleware,
    ReplicaRouter,
    read_alias,
    read_connection,
    replica_reads,
)
from apps.integrations.models import InboundEvent
from apps.players.models import Deposit, Player


@pytest.fixture
def with_replica(monkeypatch):
    """A replica alias in the settings (never connected to by these tests)."""
    monkeypatch.setitem(
        settings.DATABASES, REPLICA, {**settings.DATABASES[DEFAULT_DB_ALIAS], "NAME": "unused"}
    )


def test_router_is_installed():
    assert "apps.core.replica.ReplicaRouter" in settings.DATABASE_ROUTERS


def test_reads_in_a_read_scope_go_to_the_replica(with_replica):
    with replica_reads():
        assert router.db_for_read(Player) == REPLICA
        assert router.db_for_read(InboundEvent) == REPLICA
        assert read_alias() == REPLICA


def test_reads_outside_a_read_scope_stay_on_the_primary(with_replica):
    # Workers, beat, commands and write requests never open a scope.
    assert router.db_for_read(Player) == DEFAULT_DB_ALIAS
    assert read_alias() == DEFAULT_DB_ALIAS
    assert read_connection() is connections[DEFAULT_DB_ALIAS]


def test_without_a_replica_nothing_changes():
    assert REPLICA not in settings.DATABASES
    with replica_reads():
        assert router.db_for_read(Player) == DEFAULT_DB_ALIAS
        assert read_alias() == DEFAULT_DB_ALIAS


def test_writes_always_go_to_the_primary_and_pin_the_scope(with_replica):
    with replica_reads() as scope:
        assert router.db_for_read(Deposit) == REPLICA
        assert router.db_for_write(ApiKey) == DEFAULT_DB_ALIAS
        assert scope.pinned
        # What the request reads after its write includes that write.
        assert router.db_for_read(Deposit) == DEFAULT_DB_ALIAS
        assert read_alias() == DEFAULT_DB_ALIAS


def test_related_rows_follow_the_pin_not_the_row_they_hang_from(with_replica):
    read_from_replica = Player()
    read_from_replica._state.db = REPLICA
    with replica_reads():
        router.db_for_write(ApiKey)
        # Without an explicit answer Django would read the relation from the row's database.
        assert router.db_for_read(Deposit, instance=read_from_replica) == DEFAULT_DB_ALIAS


def test_a_new_scope_starts_unpinned(with_replica):
    with replica_reads():
        router.db_for_write(Player)
    with replica_reads():
        assert router.db_for_read(Player) == REPLICA


def test_sign_in_state_and_api_keys_come_from_the_primary(with_replica):
    with replica_reads():
        assert router.db_for_read(Session) == DEFAULT_DB_ALIAS
        assert router.db_for_read(get_user_model()) == DEFAULT_DB_ALIAS
        assert router.db_for_read(ApiKey) == DEFAULT_DB_ALIAS


@pytest.mark.django_db(transaction=True)
def test_nothing_reads_the_replica_inside_a_transaction(with_replica):
    with replica_reads():
        assert router.db_for_read(Player) == REPLICA
        with transaction.atomic():
            assert router.db_for_read(Player) == DEFAULT_DB_ALIAS
            assert read_connection() is connections[DEFAULT_DB_ALIAS]
        assert router.db_for_read(Player) == REPLICA


def test_migrations_never_run_on_the_replica():
    routing = ReplicaRouter()
    assert routing.allow_migrate(REPLICA, "players") is False
    assert routing.allow_migrate(DEFAULT_DB_ALIAS, "players") is None


def test_relations_between_primary_and_replica_rows_are_allowed():
    primary, copy = Player(), Player()
    primary._state.db, copy._state.db = DEFAULT_DB_ALIAS, REPLICA
    assert ReplicaRouter().allow_relation(primary, copy) is True


def _route_seen_by_view(path: str, method: str = "get") -> str:
    seen = {}

    def view(request):
        seen["alias"] = router.db_for_read(Player)
        return HttpResponse("ok")

    request = getattr(RequestFactory(), method)(path)
    ReplicaReadsMiddleware(view)(request)
    return seen["alias"]


@pytest.mark.parametrize(
    "path",
    ["/api/v1/players/", "/api/v1/events/?cursor=x", "/admin/health/", "/admin/retention/cohorts/"],
)
def test_middleware_reads_safe_requests_on_read_paths_from_the_replica(with_replica, path):
    assert _route_seen_by_view(path) == REPLICA
    assert _route_seen_by_view(path, "head") == REPLICA


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/webhooks/acme-crm/", "post"),
        ("/api/v1/registrations/", "post"),
        ("/api/v1/players/", "post"),
        ("/admin/integrations/inboundevent/", "get"),
        ("/admin/health/", "post"),
        ("/healthz", "get"),
        ("/t/abc/", "get"),
    ],
)
def test_middleware_leaves_everything_else_on_the_primary(with_replica, path, method):
    assert _route_seen_by_view(path, method) == DEFAULT_DB_ALIAS


def test_middleware_closes_the_scope_after_the_response(with_replica):
    assert _route_seen_by_view("/api/v1/players/") == REPLICA
    assert router.db_for_read(Player) == DEFAULT_DB_ALIAS


def test_read_paths_come_from_settings(with_replica, settings):
    settings.AFFILIATEHUB_REPLICA_READ_PATHS = ["/api/v1/statements/"]
    assert _route_seen_by_view("/api/v1/statements/") == REPLICA
    assert _route_seen_by_view("/api/v1/players/") == DEFAULT_DB_ALIAS
