"""The polling room's SQL, each statement behind a named function with its reason.

- `absent_from_store`: which of a page's ids are not stored yet, in one round trip per page
  (an anti-join against the key table's unique index, never reading the table; a range scan
  of the index when the page's ids lie together, else a lookup per id; see the comment below).
  Planned for each page, never prepared: the generic plan ran it ~40% slower.
- `page_stored`: a stored page's RecoveredEvent rows and the run's counters, in one statement.

Both run on the inbound room's server-bound cursor (`inbound.server_bound_cursor`: binary
parameters, the `%(name)b` placeholders). Values are always parameters.
"""

from __future__ import annotations

import orjson
from django.db import connection

from apps.integrations.inbound import public as inbound
from apps.integrations.models import EventSource

# One query per page. The page's ids travel as one newline-separated text (split by
# string_to_array in microseconds). `found` is the page's ids stored already, read from the
# idempotency key table (integrations_inboundeventkey, which keeps the ids of archived months too)
# index-only, and a hash anti-join against the page keeps the positions of the ids not stored
# yet (one row per occurrence). The ids an earlier poll stored come back as text (position 0)
# from the small partial index on polled events (inbound_event_polled_idx), so telling them apart
# never reads the table either. Ids already received by webhook, the bulk of every page, never
# leave the server.
#
# How `found` is read depends on how the page's ids lie in the key index:
# - span (_ABSENT_SPAN_SQL): one range scan of the index from the page's smallest id to its
#   largest (bounds computed by PostgreSQL, in the column's collation), stopped after %(cap)s
#   keys. Sources number their events in order, so a page's ids usually sit together in the
#   index: reading ~10,000 adjacent keys is a few dozen index pages, where looking each id up is
#   three page visits per id (PostgreSQL 15 walks the index from its root for every element of
#   `= ANY`): ~2x faster per page at 1M stored keys. When the range holds %(cap)s keys or more
#   (ids spread over the whole index, e.g. UUIDs), the same statement falls back to the lookup
#   below (a one-time filter on the range's count) and says so with a row at position -1.
# - lookup (_ABSENT_LOOKUP_SQL): the page's ids looked up in the index with `= ANY` of the array
#   as one value. The run uses it for its remaining pages once a page's range overflowed.
# The polled events' branch must never compare each polled row with every id of the page in
# turn (`= ANY` of the page's array, not a constant): as a long run stored more polled rows its
# pages' lookups grew slower (70 ms to 700 ms per page over 10 pages of 10,000).
# - lookup: the branch names the ids as `{ids}` itself: PostgreSQL folds string_to_array of a
#   parameter into a constant array when it plans the statement and tests `= ANY` of a constant
#   array with a hash table.
# - span: the branch reads the polled keys of the page's range only (the partial index's range
#   scan) and keeps those in the page with a hashed `IN`. Planning `= ANY` of a constant array of
#   10,000 ids cost ~10 ms per page (the planner estimates each element), 40% of the page's
#   lookup (25 -> 14 ms per page of 10,000 at 1M stored keys, 2026-12-08).
_ABSENT_LOOKUP_SQL = """
WITH page AS MATERIALIZED (SELECT {ids} AS ids),
found AS MATERIALIZED (
    SELECT e.webhook_id::text AS webhook_id FROM integrations_inboundeventkey e
    WHERE e.integration_id = %(integration)s AND e.webhook_id = ANY((SELECT ids FROM page)::text[])
)
SELECT u.position, NULL FROM page, unnest(page.ids) WITH ORDINALITY AS u(webhook_id, position)
LEFT JOIN found f ON f.webhook_id = u.webhook_id
WHERE f.webhook_id IS NULL
UNION ALL
SELECT 0, e.webhook_id::text FROM integrations_inboundevent e
WHERE e.integration_id = %(integration)s AND e.source = %(poll)s AND e.webhook_id = ANY({ids})
"""
_ABSENT_SPAN_SQL = """
WITH page AS MATERIALIZED (SELECT {ids} AS ids),
bounds AS MATERIALIZED (SELECT min(x) AS lo, max(x) AS hi FROM page, unnest(page.ids) AS x),
span AS MATERIALIZED (
    SELECT e.webhook_id::text AS webhook_id FROM integrations_inboundeventkey e
    WHERE e.integration_id = %(integration)s
      AND e.webhook_id >= (SELECT lo FROM bounds) AND e.webhook_id <= (SELECT hi FROM bounds)
    ORDER BY e.webhook_id LIMIT %(cap)s
),
overflow AS MATERIALIZED (SELECT count(*) >= %(cap)s AS overflowed FROM span),
found AS MATERIALIZED (
    SELECT webhook_id FROM span
    UNION ALL
    SELECT e.webhook_id::text FROM integrations_inboundeventkey e
    WHERE e.integration_id = %(integration)s AND e.webhook_id = ANY((SELECT ids FROM page)::text[])
      AND (SELECT overflowed FROM overflow)
)
SELECT u.position, NULL FROM page, unnest(page.ids) WITH ORDINALITY AS u(webhook_id, position)
LEFT JOIN found f ON f.webhook_id = u.webhook_id
WHERE f.webhook_id IS NULL
UNION ALL
SELECT 0, polled.webhook_id FROM (
    SELECT e.webhook_id::text AS webhook_id FROM integrations_inboundevent e
    WHERE e.integration_id = %(integration)s AND e.source = %(poll)s
      AND e.webhook_id >= (SELECT lo FROM bounds) AND e.webhook_id <= (SELECT hi FROM bounds)
) polled
WHERE polled.webhook_id IN (SELECT unnest(ids) FROM page)
UNION ALL
SELECT -1, NULL FROM overflow WHERE overflowed
"""
_IDS_TEXT = "string_to_array(%(ids)b, E'\\n')"
# Ids holding a newline cannot be split that way: they travel as a JSON array instead.
_IDS_JSON = "ARRAY(SELECT jsonb_array_elements_text(%(ids)b::jsonb))"
SPAN_CAP_PER_ID = 2  # the range may hold twice the page's ids before the lookup takes over

# A stored page's RecoveredEvent rows and the run's counters, in one statement.
_PAGE_STORED_SQL = """
WITH recovered AS (
    INSERT INTO integrations_recoveredevent (run_id, event_id) SELECT %(run)s,
        unnest(%(recovered_ids)b::bigint[])
)
UPDATE integrations_reconciliationrun
SET pages = pages + 1, skipped = skipped + %(skipped)s, polled = polled + %(polled)s,
    already_received = already_received + %(already_received)s,
    previously_polled = previously_polled + %(previously_polled)s,
    recovered = recovered + %(recovered)s, failed = failed + %(failed)s
WHERE id = %(run)s
"""


def absent_from_store(
    *, integration_id: int, ids: list[str], span: bool = True
) -> tuple[list[tuple[int, str | None]], bool]:
    """(1-based position, None) for each id of the page not stored yet, and (0, id) for each
    id an earlier poll stored; and whether the page's ids lay together in the key index (always
    False when `span` is False: the per-id lookup was used)."""
    text = "\n".join(ids)
    if text.count("\n") == len(ids) - 1:
        ids_sql, value = _IDS_TEXT, text
    else:
        ids_sql, value = _IDS_JSON, orjson.dumps(ids).decode()
    statement = (_ABSENT_SPAN_SQL if span else _ABSENT_LOOKUP_SQL).format(ids=ids_sql)
    with inbound.server_bound_cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.execute(
            statement,
            {
                "ids": value,
                "integration": integration_id,
                "poll": EventSource.POLL,
                "cap": SPAN_CAP_PER_ID * len(ids) + 1,
            },
            prepare=False,
        )
        rows = cursor.fetchall()
    if not span:
        return rows, False
    kept = [row for row in rows if row[0] != -1]
    return kept, len(kept) == len(rows)


def page_stored(
    *, run_id: int, recovered_ids: list[int], skipped: int, counters: dict[str, int]
) -> None:
    """Record a stored page: its recovered events' rows and the run's counters."""
    with inbound.server_bound_cursor() as cursor:
        cursor.execute(
            _PAGE_STORED_SQL,
            {"run": run_id, "recovered_ids": recovered_ids, "skipped": skipped, **counters},
        )
