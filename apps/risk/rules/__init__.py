"""The risk rules, one small module each (its docstring is the rule's definition).

A rule module defines `CODE`, `NAME`, `SCORE` (default score), `DEFAULTS` (its parameters and
their defaults), `TRIGGERS` (which of "registration", "deposit", "nightly" run it) and
`evaluate(facts, params) -> list[Finding]`. The settings of each rule (enabled, score,
parameters) are a `RiskRule` row; parameters missing from the row take the module's defaults.

Per-event rules receive the `EventFacts` of one event (right after its handlers, in its
transaction); nightly rules receive `NightlyFacts` (the time of the pass).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from types import ModuleType

from apps.players.models import Player, PlayerIdentityValue


@dataclass(frozen=True)
class Finding:
    """What a rule found about one affiliate: the players, a one-line summary, the evidence
    (shared values masked), and the idempotency key of the signal it becomes."""

    affiliate_id: int
    key: str
    summary: str
    players: tuple[int, ...] = ()
    evidence: dict = field(default_factory=dict)


@dataclass
class EventFacts:
    trigger: str  # "registration" or "deposit"
    player: Player
    now: dt.datetime
    deposit: object | None = None  # apps.players.facts.Deposit
    identity_values: list[PlayerIdentityValue] = field(default_factory=list)
    source_event_id: int | None = None


@dataclass
class NightlyFacts:
    trigger: str
    now: dt.datetime


def value_digest(value: str) -> str:
    """A short stable digest of a shared value, for signal keys (never the value itself)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def param(params: dict, defaults: dict, name: str):
    value = params.get(name, defaults[name])
    return value if value is not None else defaults[name]


def _modules() -> list[ModuleType]:
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

    return [
        duplicate_identity,
        self_referral,
        click_token_reuse,
        click_too_fast,
        click_too_late,
        velocity,
        cpa_farming,
        geo_mismatch,
    ]


def rule_modules() -> dict[str, ModuleType]:
    return {module.CODE: module for module in _modules()}
