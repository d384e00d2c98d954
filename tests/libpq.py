"""The test database as a libpq connection string, for tests that need a second connection
(another process's view) or a raw psycopg one."""

from __future__ import annotations

from django.db import connection
from psycopg.conninfo import make_conninfo


def test_database_conninfo() -> str:
    """The test database's libpq parameters (a host may be a socket directory, as the embedded
    server's is, which a URL cannot carry as written)."""
    db = connection.settings_dict
    params = {"dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"]}
    host = db["HOST"] or db["OPTIONS"].get("host", "")  # the embedded server's is in OPTIONS
    params |= {"host": host, "port": str(db["PORT"] or "")}
    return make_conninfo(**{key: value for key, value in params.items() if value})


test_database_conninfo.__test__ = False  # a helper, not a test (pytest collects test_* names)
