"""Fixed-window request counting in the Django cache, for the plain Django endpoints (webhooks,
click redirects); DRF endpoints use DRF's throttles (apps.core.api.throttling).

Each window is one cache key counted with add/incr. With the default local-memory cache each
web process counts on its own (the limit is per process); point the cache alias at a shared
cache (Redis) to make it global across web nodes.
"""

from __future__ import annotations

import math
import time

from django.core.cache import caches

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "day": 86400,
}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """ "<count>/<second|minute|hour|day>" -> (count, period seconds); None when empty (off)."""
    if not rate:
        return None
    count, _, period = str(rate).partition("/")
    return int(count), _PERIODS[period.strip().lower()]


def fixed_window_retry_after(
    key: str, *, limit: int, period: int, cache_alias: str = "default", now: float | None = None
) -> int | None:
    """Count one request under `key`; None when allowed, else the seconds until the window
    resets."""
    now = time.time() if now is None else now
    window = int(now // period)
    cache = caches[cache_alias]
    window_key = f"{key}:{window}"
    if cache.add(window_key, 1, timeout=period + 1):
        count = 1
    else:
        try:
            count = cache.incr(window_key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(window_key, 1, timeout=period + 1)
            count = 1
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))
