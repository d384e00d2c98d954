"""Settings of the integrations app, with their defaults (override in affiliatehub/settings)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings

DEFAULTS: dict[str, object] = {
    # Webhook intake (WEBHOOKS.md §1).
    "AFFILIATEHUB_WEBHOOK_MAX_BODY_BYTES": 1024 * 1024,
    "AFFILIATEHUB_WEBHOOK_BATCH_MAX_BODY_BYTES": 16 * 1024 * 1024,
    "AFFILIATEHUB_WEBHOOK_BATCH_MAX_EVENTS": 5000,
    "AFFILIATEHUB_WEBHOOK_TOLERANCE_SECONDS": 300,
    # Per-integration request rate, "<count>/<second|minute|hour>"; empty disables throttling.
    "AFFILIATEHUB_WEBHOOK_THROTTLE_RATE": "120000/minute",
    # Cache alias holding throttle counters: use a shared cache (Redis) with several web nodes.
    "AFFILIATEHUB_WEBHOOK_THROTTLE_CACHE": "default",
    # How long a web process reuses an integration and its secrets (0 = every request reads).
    "AFFILIATEHUB_INTEGRATION_CACHE_SECONDS": 5,
    # Secret rotation: how long the previous secret keeps verifying.
    "AFFILIATEHUB_SECRET_ROTATION_GRACE": dt.timedelta(hours=24),
    # Processing retries: exponential backoff with full jitter, then dead letter.
    "AFFILIATEHUB_EVENT_RETRY_BASE_SECONDS": 30,
    "AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS": 6 * 3600,
    "AFFILIATEHUB_EVENT_MAX_ATTEMPTS": 8,
    # Outbox sweeper: a received event untouched this long is re-enqueued.
    "AFFILIATEHUB_SWEEP_STUCK_AFTER_SECONDS": 60,
    "AFFILIATEHUB_SWEEP_BATCH_SIZE": 1000,
    # Parked events are re-run this often (closes the park/unpark race), and dead-lettered
    # when their identifier stays unknown longer than the maximum age.
    "AFFILIATEHUB_PARK_RECHECK_SECONDS": 3600,
    "AFFILIATEHUB_PARK_MAX_AGE": dt.timedelta(days=7),
    # Monthly partitions of the inbound event store (docs/operations.md): how many months
    # after the current one the beat creates ahead.
    "AFFILIATEHUB_EVENT_PARTITIONS_AHEAD": 3,
    # Retention of raw inbound events, in whole months before the current one; None keeps them
    # for ever. Older months are archived (STORAGES["event_archive"]) then their partition is
    # dropped, once every event in them is processed, dead or invalid.
    "AFFILIATEHUB_EVENT_RETENTION_MONTHS": None,
}


def get(name: str):
    return getattr(settings, name, DEFAULTS[name])


def seconds(name: str) -> float:
    value = get(name)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def duration(name: str) -> dt.timedelta:
    return dt.timedelta(seconds=seconds(name))


_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}


def throttle_rate() -> tuple[int, int] | None:
    """(requests, period seconds) from AFFILIATEHUB_WEBHOOK_THROTTLE_RATE, or None when off."""
    rate = get("AFFILIATEHUB_WEBHOOK_THROTTLE_RATE")
    if not rate:
        return None
    count, _, period = str(rate).partition("/")
    return int(count), _PERIODS[period.strip().lower()]
