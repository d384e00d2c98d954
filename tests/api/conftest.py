"""Fixtures for the read (polling) API tests."""

import pytest
from django.core.cache import caches


@pytest.fixture(autouse=True)
def _fresh_api_state(settings):
    """No settle delay (rows are visible at once) and empty throttle counters, unless a test says
    so."""
    settings.AFFILIATEHUB_API_SETTLE_SECONDS = 0
    settings.AFFILIATEHUB_API_THROTTLE_RATE = "10000/minute"
    caches["default"].clear()
    yield
    caches["default"].clear()
