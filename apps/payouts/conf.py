"""The payouts settings by their short names, for apps/payouts/services/.

Every setting and its default lives in apps/core/conf.py (flat AFFILIATEHUB_* names); this
module only maps "PAYOUT_FX_LOCK" to "AFFILIATEHUB_PAYOUT_FX_LOCK" until services.py reads
apps.core.conf directly.
"""

from __future__ import annotations

from apps.core import conf


def get(name: str):
    return conf.get(f"AFFILIATEHUB_{name}")
