"""Commission plans, their dated assignments, the commission ledger, clawback cases and statements,
one module per area; import them from here (`from apps.commissions.models import Plan`).

The ledger (`CommissionEntry`) is the single source of truth for what an affiliate earned:
balances and statements are sums over it, never stored counters. Rows are written only by
`apps.commissions.services` and never change their amounts; see `CommissionEntry` for the
one narrow exception (status).
"""

from apps.commissions.models.clawbacks import (
    ClawbackCase,
    ClawbackCaseEvent,
    ClawbackProposal,
)
from apps.commissions.models.common import PERCENT
from apps.commissions.models.ledger import (
    CommissionEntry,
    CommissionHold,
    PeriodClose,
)
from apps.commissions.models.plans import (
    InstrumentGroup,
    InstrumentSymbol,
    LotRate,
    Plan,
    PlanAssignment,
    PlanTier,
)
from apps.commissions.models.statements import (
    Statement,
    StatementLine,
    StatementPlayerNgr,
    StatementRevshare,
)

__all__ = [
    "PERCENT",
    "ClawbackCase",
    "ClawbackCaseEvent",
    "ClawbackProposal",
    "CommissionEntry",
    "CommissionHold",
    "InstrumentGroup",
    "InstrumentSymbol",
    "LotRate",
    "PeriodClose",
    "Plan",
    "PlanAssignment",
    "PlanTier",
    "Statement",
    "StatementLine",
    "StatementPlayerNgr",
    "StatementRevshare",
]
