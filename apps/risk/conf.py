"""The risk app's settings by their short names ("RISK_EVENT_RULES").

Every setting and its default lives in apps/core/conf.py (flat AFFILIATEHUB_* names); this module
only maps the short name to "AFFILIATEHUB_RISK_…".
"""

from __future__ import annotations

from apps.core import conf


def get(name: str):
    return conf.get(f"AFFILIATEHUB_{name}")
