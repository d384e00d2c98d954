"""Plain SQL of the event worker's hot path, one statement per function (issue 18 §3).

Each of these runs once per event or once per claimed batch in the worker, where Django
compiling the equivalent ORM query cost more CPU than PostgreSQL running it. The SQL is built
from the models' meta once per process; values are always parameters.

- `claim_ready`: batch claiming. Leases a batch of `received` events, oldest first, skipping
  rows other transactions hold and players that already have an event in flight, so one
  player's events are processed one after another, in the order they were received.
- `release_leases`: gives back leases of claimed events that were not processed.
- `lock_event`: the per-event row lock, read into an InboundEvent without the ORM's compile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection

from apps.integrations.inbound.models import InboundEvent

_sql: dict[str, str] = {}

# Namespace of the transaction-level advisory lock that serialises claims per queue: without
# it two claimers could each take one event of the same player in the same instant.
_CLAIM_LOCK_CLASS = 0x636C6169  # "clai"

# Whose event is it: the player (or trading account) the payload names. Events that name none
# (payouts) are never held back for another event.
_PLAYER_KEY = "coalesce(e.payload->'data'->>'player_id', e.payload->'data'->>'login')"


@dataclass(frozen=True)
class Claimed:
    """One leased event: processed in `(received_at, id)` order."""

    id: int
    received_at: dt.datetime
    event_type: str


def _table() -> str:
    return connection.ops.quote_name(InboundEvent._meta.db_table)


def claim_ready(
    *, trades: bool | None, limit: int, lease_until: dt.datetime, now: dt.datetime
) -> list[Claimed]:
    """Lease up to `limit` ready events (status `received`, no lease, not row-locked) of one
    queue (`trades`: trade.closed events; False: the others; None: both, for a worker that
    consumes both queues) by setting `next_attempt_at` to
    `lease_until`, in one transaction. An event whose player already has a `received` event with
    a lease in the future (another batch's, an unpark sequence's, the sweeper's) is left for
    later: per-player order holds across workers. Returns the leased events in receipt order.

    A lease that is never released (the worker died) expires; the outbox sweeper then sends
    the event again (`inbound_events_sweep`), as it does for any stuck `received` event."""
    sql = _sql.get("claim")
    if sql is None:
        sql = _sql["claim"] = f"""
            WITH busy AS (
                SELECT DISTINCT e.integration_id, {_PLAYER_KEY} AS player
                FROM {_table()} e
                WHERE e.status = 'received' AND e.next_attempt_at > %(now)s
            ), ready AS (
                SELECT e.id, e.integration_id, {_PLAYER_KEY} AS player
                FROM {_table()} e
                WHERE e.status = 'received' AND e.next_attempt_at IS NULL
                  AND (%(trades)s::boolean IS NULL
                       OR (e.event_type = 'trade.closed') = %(trades)s::boolean)
                ORDER BY e.received_at, e.id
                LIMIT %(limit)s
                FOR UPDATE OF e SKIP LOCKED
            )
            UPDATE {_table()} t SET next_attempt_at = %(lease)s
            FROM ready r
            WHERE t.id = r.id AND NOT EXISTS (
                SELECT 1 FROM busy b
                WHERE b.integration_id = r.integration_id AND b.player = r.player
            )
            RETURNING t.id, t.received_at, t.event_type
        """  # noqa: S608 - the table name is the model's, values are parameters
    params = {"now": now, "trades": trades, "limit": limit, "lease": lease_until}
    with connection.cursor() as cursor:
        # Claims of one queue take turns (a few ms each): see _CLAIM_LOCK_CLASS. A claim of
        # both queues takes both locks, always in the same order.
        for queue in (0, 1) if trades is None else (1 if trades else 0,):
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_CLAIM_LOCK_CLASS, queue])
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    claimed = [Claimed(*row) for row in rows]
    claimed.sort(key=lambda c: (c.received_at, c.id))
    return claimed


def release_leases(*, event_ids: list[int], lease_until: dt.datetime) -> int:
    """Clear the lease of events still `received` under this lease (not processed: another
    worker held the row). They are ready again at once, for the next claim."""
    if not event_ids:
        return 0
    sql = _sql.get("release")
    if sql is None:
        sql = _sql["release"] = f"""
            UPDATE {_table()} SET next_attempt_at = NULL
            WHERE id = ANY(%s) AND status = 'received' AND next_attempt_at = %s
        """  # noqa: S608 - the table name is the model's, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_ids, lease_until])
        return cursor.rowcount


def lock_event(event_id: int, *, with_payload: bool = True) -> InboundEvent | None:
    """The event locked FOR UPDATE (SKIP LOCKED: None when another worker holds it), with its
    integration's kind, slug and id_system as `integration_kind`, `integration_slug` and
    `integration_id_system`; without `payload` and `raw_body` (deferred) when asked. A plain
    cursor and `Model.from_db` with the fields' own converters: a RawQuerySet cost ~12% of a
    processed event's worker CPU."""
    key = "lock" if with_payload else "lock-outcome"
    plan = _lock_plans.get(key)
    if plan is None:
        plan = _lock_plans[key] = _lock_plan(with_payload)
    sql, attnames, converters = plan
    with connection.cursor() as cursor:
        cursor.execute(sql, [event_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row[: len(attnames)])
    for index, field_converters in converters:
        value = values[index]
        for convert, expression in field_converters:
            value = convert(value, expression, connection)
        values[index] = value
    event = InboundEvent.from_db(connection.alias, attnames, values)
    event.integration_kind, event.integration_slug, event.integration_id_system = row[
        len(attnames) :
    ]
    return event


_lock_plans: dict[str, tuple] = {}


def _lock_plan(with_payload: bool) -> tuple[str, list[str], list]:
    from apps.integrations.models import Integration

    meta = InboundEvent._meta
    fields = [
        f for f in meta.concrete_fields if with_payload or f.name not in ("payload", "raw_body")
    ]
    quote = connection.ops.quote_name
    columns = ", ".join(f"e.{quote(f.column)}" for f in fields)
    sql = f"""
        SELECT {columns}, i."kind", i."slug", i."id_system"
        FROM {quote(meta.db_table)} e
        JOIN {quote(Integration._meta.db_table)} i ON i."id" = e."integration_id"
        WHERE e."id" = %s FOR UPDATE OF e SKIP LOCKED
    """  # noqa: S608 - names from the models' meta, values are parameters
    converters = []
    for index, field in enumerate(fields):
        expression = field.get_col(meta.db_table)
        found = connection.ops.get_db_converters(expression) + field.get_db_converters(connection)
        if found:
            converters.append((index, [(convert, expression) for convert in found]))
    return sql, [f.attname for f in fields], converters
