"""The risk rules, one small module each (its docstring is the rule's definition).

A rule module defines `CODE`, `NAME`, `SCORE` (default score), `DEFAULTS` (its parameters and
their defaults), `TRIGGERS` (which of "registration", "deposit", "nightly" run it) and
`evaluate(facts, params) -> list[Finding]`. The settings of each rule (enabled, score,
parameters) are a `RiskRule` row; parameters missing from the row take the module's defaults.

Per-event rules receive the `EventFacts` of one event (right after its handlers, in its
transaction); nightly rules receive `NightlyFacts` (the time of the pass).
"""

from __future__ import annotations

from types import ModuleType

from apps.risk.rules import (
    click_token_reuse,
    click_too_fast,
    click_too_late,
    cpa_farming,
    duplicate_identity,
    geo_mismatch,
    self_referral,
    velocity,
)
from apps.risk.rules.base import EventFacts, Finding, NightlyFacts, param, value_digest

__all__ = ["EventFacts", "Finding", "NightlyFacts", "param", "rule_modules", "value_digest"]

MODULES: tuple[ModuleType, ...] = (
    duplicate_identity,
    self_referral,
    click_token_reuse,
    click_too_fast,
    click_too_late,
    velocity,
    cpa_farming,
    geo_mismatch,
)


def rule_modules() -> dict[str, ModuleType]:
    return {module.CODE: module for module in MODULES}
