"""The one private Django API the project uses: `connection._prepare_cursor` (issue 14 §4).

`apps.integrations.inbound.store.server_bound_cursor()` wraps a server-binding psycopg cursor
with it, so that the intake's batch insert gets Django's error translation, query logging and
thread-sharing check while sending its arrays as binary parameters. A Django upgrade that
renames or changes it must fail here, by name, not somewhere in the webhook path.
"""

import inspect

import psycopg
import pytest
from django.db import DatabaseError, connection
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.test.utils import CaptureQueriesContext

from apps.integrations.inbound.services import server_bound_cursor

pytestmark = pytest.mark.django_db


def test_prepare_cursor_still_exists_with_the_signature_used():
    prepare = getattr(connection, "_prepare_cursor", None)
    assert prepare is not None, (
        "Django removed BaseDatabaseWrapper._prepare_cursor: replace its use in "
        "apps.integrations.inbound.store.server_bound_cursor"
    )
    assert list(inspect.signature(prepare).parameters) == ["cursor"]


def test_the_wrapped_cursor_binds_on_the_server_and_behaves_like_djangos():
    with server_bound_cursor() as cursor:
        assert isinstance(cursor, CursorWrapper)
        assert type(cursor.cursor) is psycopg.Cursor  # server-side binding, not ClientCursor
        cursor.execute("SELECT %b::int[]", [[1, 2, 3]])  # binary parameters need it
        assert cursor.fetchone()[0] == [1, 2, 3]
        with pytest.raises(DatabaseError):  # errors translated to Django's
            cursor.execute("SELECT * FROM no_such_table_here")


def test_the_wrapped_cursor_logs_its_queries_when_queries_are_logged():
    with CaptureQueriesContext(connection) as captured, server_bound_cursor() as cursor:
        assert isinstance(cursor, CursorDebugWrapper)
        cursor.execute("SELECT 1")
    assert any("SELECT 1" in query["sql"] for query in captured.captured_queries)
