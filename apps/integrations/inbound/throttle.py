"""Per-integration request throttling for the webhook endpoints (answered 429 + Retry-After).

A fixed window counter (apps.core.throttle) in the Django cache named by
AFFILIATEHUB_WEBHOOK_THROTTLE_CACHE. With the default local-memory cache each web process
counts on its own (the limit is per process); point the alias at a shared cache (Redis) to
make it global across web nodes.
"""

from __future__ import annotations

from apps.core.throttle import fixed_window_retry_after
from apps.integrations import conf


def throttle_retry_after(integration_id: int, *, now: float | None = None) -> int | None:
    """Count one request; None when allowed, else the seconds until the window resets."""
    rate = conf.throttle_rate()
    if rate is None:
        return None
    limit, period = rate
    return fixed_window_retry_after(
        f"ah:webhook-rate:{integration_id}",
        limit=limit,
        period=period,
        cache_alias=conf.get("AFFILIATEHUB_WEBHOOK_THROTTLE_CACHE"),
        now=now,
    )
