"""Real-time accrual: what a fact earns, the moment it is recorded (DOMAIN.md "Commission plans",
"Trades", "Compliance gates").

Each function is called by a handler inside the inbound event's transaction, with the fact that
event recorded. Every accrual passes `accrual_gate`; a blocked one is booked as a suppressed line
with its reason. Out-of-order arrival is expected: CPA qualification is re-evaluated from the
facts held whenever one of its inputs arrives.

The accruals live in `cpa.py`, `trades.py` and `purchases.py` (booking through the gate in
`booking.py`); this module holds the revenue accrual and re-exports the others.
"""

from __future__ import annotations

from apps.commissions.models import CommissionEntry
from apps.commissions.services.cpa import (
    CpaQualification,
    cpa_evaluate,
    cpa_qualification,
    player_accruals_on_exclusion,
    player_cpa_fail_on_exclusion,
)
from apps.commissions.services.purchases import purchase_accrue, purchase_refund_accrue
from apps.commissions.services.restatements import revshare_restatement_book
from apps.commissions.services.trades import TradeLots, payable_lots, symbol_lookup, trade_accrue
from apps.players.facts import RevenueReport

__all__ = [
    "CpaQualification",
    "TradeLots",
    "cpa_evaluate",
    "cpa_qualification",
    "payable_lots",
    "player_accruals_on_exclusion",
    "player_cpa_fail_on_exclusion",
    "purchase_accrue",
    "purchase_refund_accrue",
    "revenue_accrue",
    "symbol_lookup",
    "trade_accrue",
]


def revenue_accrue(*, report: RevenueReport, source_event_id: int) -> CommissionEntry | None:
    """Revenue is paid as RevShare at the period close; in real time it matters to CPA
    qualification (minimum wagering), and a report for a day of a closed period books the
    RevShare difference in the open period (`revshare_restatement_book`)."""
    revshare_restatement_book(report=report, source_event_id=source_event_id)
    return cpa_evaluate(player=report.player, source_event_id=source_event_id)
