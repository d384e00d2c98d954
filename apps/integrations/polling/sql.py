"""The polling room's SQL, each statement behind a named function with its reason.

- `absent_from_store`: which of a page's ids are not stored yet, in one round trip per page
  (an anti-join against the unique index, never reading the table; see the comment below).
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
# string_to_array in microseconds). `found` reads the stored ones from the idempotency key table
# (integrations_inboundeventkey, which keeps the ids of archived months too) with a single index
# walk over the whole array (`= ANY` of the array as one value: PostgreSQL sorts it and walks
# the unique index once; index-only, the rows are never read), and a hash join against the page
# keeps the positions of the ids not stored yet (one row per occurrence). The ids an earlier poll
# stored come back as text (position 0) from the small partial index on polled events
# (inbound_event_polled_idx), so telling them apart never reads the table either. Ids already
# received by webhook, the bulk of every page, never leave the server.
_ABSENT_SQL = """
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
WHERE e.integration_id = %(integration)s AND e.source = %(poll)s AND e.webhook_id = ANY((SELECT ids
    FROM page)::text[])
"""
_ABSENT_TEXT_SQL = _ABSENT_SQL.format(ids="string_to_array(%(ids)b, E'\\n')")
# Ids holding a newline cannot be split that way: they travel as a JSON array instead.
_ABSENT_JSON_SQL = _ABSENT_SQL.format(ids="ARRAY(SELECT jsonb_array_elements_text(%(ids)b::jsonb))")

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


def absent_from_store(*, integration_id: int, ids: list[str]) -> list[tuple[int, str | None]]:
    """(1-based position, None) for each id of the page not stored yet, and (0, id) for each
    id an earlier poll stored."""
    text = "\n".join(ids)
    if text.count("\n") == len(ids) - 1:
        statement, value = _ABSENT_TEXT_SQL, text
    else:
        statement, value = _ABSENT_JSON_SQL, orjson.dumps(ids).decode()
    with inbound.server_bound_cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.execute(
            statement,
            {"ids": value, "integration": integration_id, "poll": EventSource.POLL},
            prepare=False,
        )
        return cursor.fetchall()


def page_stored(
    *, run_id: int, recovered_ids: list[int], skipped: int, counters: dict[str, int]
) -> None:
    """Record a stored page: its recovered events' rows and the run's counters."""
    with inbound.server_bound_cursor() as cursor:
        cursor.execute(
            _PAGE_STORED_SQL,
            {"run": run_id, "recovered_ids": recovered_ids, "skipped": skipped, **counters},
        )
