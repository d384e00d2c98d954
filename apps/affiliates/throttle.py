"""Per-client throttling of click redirects (answered 429 + Retry-After).

Counted per IP hash (clicks never keep the address) in the default cache, at
AFFILIATEHUB_CLICK_THROTTLE_RATE ("<count>/<second|minute|hour|day>", empty = off). Shared
networks (carrier NAT, offices) share an address: keep the rate well above one person's clicks.
"""

from __future__ import annotations

from apps.affiliates.services import hash_ip
from apps.core import conf
from apps.core.throttle import fixed_window_retry_after, parse_rate


def click_retry_after(*, ip: str | None) -> int | None:
    """Count one click from `ip`; None when allowed, else the seconds to wait."""
    rate = parse_rate(conf.text("AFFILIATEHUB_CLICK_THROTTLE_RATE"))
    if rate is None or not ip:
        return None
    limit, period = rate
    return fixed_window_retry_after(f"ah:click-rate:{hash_ip(ip)}", limit=limit, period=period)
