"""Fixtures of the commission tests live in tests/commissions/pipeline.py (the compliance gate
tests use them too)."""

from tests.commissions.pipeline import licensed, make_player, pipeline  # noqa: F401
