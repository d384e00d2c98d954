"""Settings of the payouts app, read from settings.AFFILIATEHUB with their defaults."""

from __future__ import annotations

from django.conf import settings

DEFAULTS: dict[str, object] = {
    # Maker-checker: the approver of a payout must not be the one who prepared it.
    "PAYOUT_MAKER_CHECKER": True,
    # When the FX rate becomes final: "statement_approval" (default) or "disbursement".
    "PAYOUT_FX_LOCK": "statement_approval",
    # The OutboundEndpoint (kind gateway) payout requests go to, by name; empty = the only
    # active gateway endpoint.
    "PAYOUT_GATEWAY_ENDPOINT": "",
}


def get(name: str):
    return (getattr(settings, "AFFILIATEHUB", None) or {}).get(name, DEFAULTS[name])
