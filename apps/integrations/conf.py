"""The inbound settings' accessors, for the modules of apps/integrations/inbound.

Every setting and its default lives in apps/core/conf.py (flat AFFILIATEHUB_* names); `get`,
`seconds` and `duration` are that module's, re-exported here until inbound/ imports it
directly. `throttle_rate()` parses the webhook throttle's rate.
"""

from __future__ import annotations

from apps.core.conf import duration, get, seconds

__all__ = ["duration", "get", "seconds", "throttle_rate"]

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
