"""Integration-health dashboard with 1,000,000 inbound events in the window.

Loads the events with one INSERT ... SELECT generate_series (statuses and latencies spread like
real traffic), refreshes the hourly rollup once (what the beat task does), then times the
dashboard page (admin view, rendered) and counts its queries. Target (ISSUE 7): < 1 s.
"""

from __future__ import annotations

import os
import statistics
import time

from bench.common import bench_database_url, child_env, manage


def run(*, quick: bool = False) -> dict:
    events = 50_000 if quick else 1_000_000
    url = bench_database_url("dashboard")
    env = child_env(url)
    manage("migrate", "--no-input", "-v", "0", env=env)
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="affiliatehub.settings.local")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from apps.integrations.models import InboundEvent, Integration
    from apps.monitoring.rollups import inbound_rollup_refresh

    integrations = [
        Integration.objects.get_or_create(
            slug=f"bench-{i}", defaults={"name": f"bench {i}", "kind": "crm", "id_system": "crm"}
        )[0]
        for i in range(4)
    ]
    ids = [i.pk for i in integrations]
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {InboundEvent._meta.db_table}
                (integration_id, webhook_id, event_type, payload, raw_body, body_hash, received_at,
                 source, status, attempts, last_error, warnings, errors, parked_system,
                 parked_external_id, processed_at)
            SELECT (%(ids)s::bigint[])[1 + g %% 4], 'bench-' || g, 'deposit.created', '{{}}', '',
                   'x',
                   now() - (g %% 86000) * interval '1 second', 'webhook',
                   CASE WHEN g %% 1000 = 0 THEN 'dead' WHEN g %% 997 = 0 THEN 'invalid'
                        WHEN g %% 499 = 0 THEN 'parked' ELSE 'processed' END,
                   0, '', '[]', '{{}}', '', '',
                   now() - (g %% 86000) * interval '1 second' + ((g %% 400) + 20) * interval
                     '1 millisecond'
            FROM generate_series(1, %(n)s) g""",  # noqa: S608
            {"ids": ids, "n": events},
        )
        cursor.execute(f"ANALYZE {InboundEvent._meta.db_table}")
    loaded = time.monotonic() - started
    started = time.monotonic()
    rows = inbound_rollup_refresh(since=timezone.now() - timezone.timedelta(hours=25))
    rollup = time.monotonic() - started

    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    timings, queries = [], 0
    for _ in range(5):
        with CaptureQueriesContext(connection) as captured:
            t0 = time.monotonic()
            response = client.get("/admin/health/", {"window": "24h"})
            timings.append(time.monotonic() - t0)
        assert response.status_code == 200, response.status_code
        queries = len(captured)
    result = {
        "events": events,
        "load_s": round(loaded, 1),
        "rollup_refresh_s": round(rollup, 2),
        "rollup_rows": rows,
        "dashboard_median_s": round(statistics.median(timings), 3),
        "dashboard_max_s": round(max(timings), 3),
        "dashboard_queries": queries,
    }
    print(f"dashboard: {result}", flush=True)
    return result
