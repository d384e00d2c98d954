"""Settings of the risk app, read from settings.AFFILIATEHUB with their defaults."""

from __future__ import annotations

from django.conf import settings

DEFAULTS: dict[str, object] = {
    # Run the per-event rules in the inbound pipeline (off: only the nightly pass runs).
    "RISK_EVENT_RULES": True,
    # A case whose score reaches this also holds the affiliate's payouts (PayoutHold).
    "RISK_PAYOUT_HOLD_SCORE": 60,
}


def get(name: str):
    return (getattr(settings, "AFFILIATEHUB", None) or {}).get(name, DEFAULTS[name])
