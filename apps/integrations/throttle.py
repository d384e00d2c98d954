"""Per-integration request throttling for the webhook endpoints (answered 429 + Retry-After).

A fixed window counter in the Django cache named by AFFILIATEHUB_WEBHOOK_THROTTLE_CACHE. With
the default local-memory cache each web process counts on its own (the limit is per process);
point the alias at a shared cache (Redis) to make it global across web nodes.
"""

from __future__ import annotations

import math
import time

from django.core.cache import caches

from apps.integrations import conf


def throttle_retry_after(integration_id: int, *, now: float | None = None) -> int | None:
    """Count one request; None when allowed, else the seconds until the window resets."""
    rate = conf.throttle_rate()
    if rate is None:
        return None
    limit, period = rate
    now = time.time() if now is None else now
    window = int(now // period)
    cache = caches[conf.get("AFFILIATEHUB_WEBHOOK_THROTTLE_CACHE")]
    key = f"ah:webhook-rate:{integration_id}:{window}"
    if cache.add(key, 1, timeout=period + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: a new window
            cache.add(key, 1, timeout=period + 1)
            count = 1
    if count <= limit:
        return None
    return max(1, math.ceil((window + 1) * period - now))
