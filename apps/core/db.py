"""Database helpers for hot paths (the webhook endpoint and the event worker).

Connection hygiene: Django health-checks a persistent connection (`SELECT 1`, a round trip)
before the first query of every request, and the worker does the same around every task. A
connection that finished a request or task under RECENTLY_USED_SECONDS ago skips that check
(`connections_skip_fresh_health_checks`): if the server dropped it in between, that request or
task fails once (the sender retries; the task autoretries) and Django closes the broken
connection after it, as it always does.

Two statements the ORM cannot say in one round trip:

- `insert_or_skip`: INSERT ... ON CONFLICT (natural key) DO NOTHING RETURNING id. The idempotent
  insert of a fact whose natural key may already be stored, without `get_or_create`'s
  select-savepoint-insert-release (four round trips and two compiled queries).
- `lock_row`: SELECT ... FOR NO KEY UPDATE of one row by primary key, to serialise work on it.

Both build their SQL from the model's meta once per process; values are parameters and go
through each field's own database preparation, as `Model.save()` does.

PostgreSQL features with no ORM spelling, each named for what it does:

- `advisory_xact_lock`: an advisory lock on a number, not a row, until the transaction ends
  (the period close against accruals). No session-level lock is offered: behind a
  transaction-pooling PgBouncer its unlock can reach another server connection (one poll per
  integration at a time is a row lease instead, apps/integrations/polling/lease.py).
- `commit_without_wal_wait`: `SET LOCAL synchronous_commit TO OFF` for a transaction whose
  loss in a crash is harmless (a lease that is simply taken again).
- `database_ping`: one `SELECT 1` round trip (the health check).
- `fetch_all` / `fetch_one`: run a named, parameterised SQL statement of an app's `sql.py`.
"""

from __future__ import annotations

import time

from django.db import connection, connections, models

_sql: dict[tuple, str] = {}

RECENTLY_USED_SECONDS = 1.0
_last_used = 0.0


def connections_note_used(**signal_kwargs) -> None:
    """After a request or task: remember when this process last used its connections."""
    global _last_used
    _last_used = time.monotonic()


def connections_skip_fresh_health_checks(**signal_kwargs) -> None:
    """Before a request or task (after Django's `close_old_connections`): no health check for
    connections used under RECENTLY_USED_SECONDS ago."""
    if time.monotonic() - _last_used >= RECENTLY_USED_SECONDS:
        return
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            conn.health_check_done = True


def _rounded_fields(model: type[models.Model]) -> list[models.Field]:
    """Fields whose stored value may differ from the one sent (numeric(p, s) rounds)."""
    return [
        field for field in model._meta.concrete_fields if isinstance(field, models.DecimalField)
    ]


def _insert_sql(
    model: type[models.Model], fields: list[models.Field], conflict: tuple[str, ...]
) -> str:
    key = ("insert", model, conflict)
    sql = _sql.get(key)
    if sql is None:
        meta, quote = model._meta, connection.ops.quote_name
        columns = ", ".join(quote(field.column) for field in fields)
        targets = ", ".join(quote(meta.get_field(name).column) for name in conflict)
        returning = ", ".join(quote(field.column) for field in [meta.pk, *_rounded_fields(model)])
        sql = _sql[key] = (
            f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608 - names from meta
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({targets}) DO NOTHING RETURNING {returning}"
        )
    return sql


def insert_or_skip(instance: models.Model, *, conflict: tuple[str, ...]) -> bool:
    """Insert `instance` unless a row with the same `conflict` fields exists (a unique constraint
    on exactly those fields). True and `instance.pk` set when inserted; False when skipped.

    Field defaults and `auto_now_add` apply as in `save()`; validation does not run (callers
    validate first, as services do). Decimal fields are read back as the database stored them."""
    fields = [field for field in instance._meta.concrete_fields if not field.primary_key]
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields
    ]
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(type(instance), fields, conflict), values)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    for field, value in zip(_rounded_fields(type(instance)), row[1:], strict=True):
        setattr(
            instance, field.attname, value
        )  # the instance holds what is stored, as a re-read would
    instance._state.adding, instance._state.db = False, connection.alias
    return True


def _keyed_sql(
    model: type[models.Model],
    fields: list[models.Field],
    key_model: type[models.Model],
    conflict: tuple[str, ...],
    partition: str,
) -> str:
    key = ("keyed", model, key_model)
    sql = _sql.get(key)
    if sql is None:
        meta, quote = model._meta, connection.ops.quote_name

        def cast(field: models.Field) -> str:
            return f"CAST(%s AS {field.cast_db_type(connection)})"

        key_fields = [meta.get_field(name) for name in (*conflict, partition)]
        key_columns = ", ".join(quote(key_model._meta.get_field(name).column) for name in conflict)
        partition_column = quote(key_model._meta.get_field(partition).column)
        sequence = f"{meta.db_table}_id_seq"
        returning = ", ".join(quote(field.column) for field in [meta.pk, *_rounded_fields(model)])
        sql = _sql[key] = (
            f"WITH k AS (INSERT INTO {quote(key_model._meta.db_table)} "  # noqa: S608 - names from meta
            f"({key_columns}, fact_id, {partition_column}) "
            f"VALUES ({', '.join(cast(field) for field in key_fields[:-1])}, "
            f"nextval('{sequence}'), {cast(key_fields[-1])}) "
            f"ON CONFLICT DO NOTHING RETURNING fact_id) "
            f"INSERT INTO {quote(meta.db_table)} ({quote(meta.pk.column)}, "
            f"{', '.join(quote(field.column) for field in fields)}) "
            f"SELECT k.fact_id, {', '.join(cast(field) for field in fields)} FROM k "
            f"RETURNING {returning}"
        )
    return sql


def insert_or_skip_keyed(
    instance: models.Model,
    *,
    key_model: type[models.Model],
    conflict: tuple[str, ...],
    partition: str,
) -> bool:
    """`insert_or_skip` for a partitioned table whose natural key `conflict` cannot be a unique
    constraint (it does not hold the partition key): the key lives in `key_model`, an
    unpartitioned table whose primary key is `conflict`, with `fact_id` (the row's id) and
    `partition` (the row's partition key). One statement inserts the key, ON CONFLICT DO
    NOTHING, taking the id from the table's sequence, and the row only for a key it inserted."""
    fields = [field for field in instance._meta.concrete_fields if not field.primary_key]
    values = [
        field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields
    ]
    by_name = {field.name: value for field, value in zip(fields, values, strict=True)}
    key_values = [by_name[name] for name in (*conflict, partition)]
    with connection.cursor() as cursor:
        cursor.execute(
            _keyed_sql(type(instance), fields, key_model, conflict, partition),
            key_values + values,
        )
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    for field, value in zip(_rounded_fields(type(instance)), row[1:], strict=True):
        setattr(instance, field.attname, value)
    instance._state.adding, instance._state.db = False, connection.alias
    return True


def lock_row(model: type[models.Model], pk: int) -> bool:
    """Lock one row FOR NO KEY UPDATE (inserts referencing it are not blocked). False if absent."""
    key = ("lock", model)
    sql = _sql.get(key)
    if sql is None:
        meta = model._meta
        pk_column = connection.ops.quote_name(meta.pk.column)
        sql = _sql[key] = (
            f"SELECT 1 FROM {connection.ops.quote_name(meta.db_table)} "  # noqa: S608 - names from meta
            f"WHERE {pk_column} = %s FOR NO KEY UPDATE"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk])
        return cursor.fetchone() is not None


def advisory_xact_lock(class_id: int, key: int, *, shared: bool = False) -> None:
    """Take an advisory lock on (class_id, key) until the transaction ends; waits for it.
    Shared holders exclude only exclusive ones (many accruals against one period close)."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [class_id, key])


def commit_without_wal_wait() -> None:
    """This transaction's commit does not wait for the WAL flush: only for writes whose loss in
    a server crash is harmless (they are redone), as PostgreSQL documents for the setting."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def database_ping() -> None:
    """One round trip to the database; raises when it does not answer."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def fetch_all(sql: str, params=None, *, on=None) -> list[tuple]:
    """Rows of one parameterised statement (the callers are the apps' `sql.py` modules), on the
    default connection or `on` (e.g. apps.core.replica.read_connection() for a report)."""
    with (on or connection).cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def fetch_one(sql: str, params=None) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
