"""Per-API-key request throttling: 429 with Retry-After (the problem handler keeps the header).

The rate is AFFILIATEHUB_API_THROTTLE_RATE ("<count>/<second|minute|hour|day>", empty = off),
counted per key in the default cache: with several web nodes point it at a shared cache.
"""

from __future__ import annotations

from rest_framework.throttling import SimpleRateThrottle

from apps.core import conf
from apps.core.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        return conf.text("AFFILIATEHUB_API_THROTTLE_RATE") or None

    def get_cache_key(self, request, view):
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return None  # unauthenticated requests are refused before they cost anything
        return f"ah:api-rate:{api_key.pk}"
