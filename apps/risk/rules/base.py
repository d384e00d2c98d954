"""What every rule module shares: the facts it is given, the finding it returns, helpers."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

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
