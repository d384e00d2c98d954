"""Payout methods, FX rates, payout runs and payouts, method changes, holds and manual
adjustments (DOMAIN.md "Statements and payouts"), one module per area; import them from here.

A payout moves only through `apps.payouts.services` (the state machine, with row locks and
audit rows); these models hold no business logic beyond read-only helpers.
"""

from apps.payouts.models.controls import (
    DecisionStatus,
    ManualAdjustment,
    PayoutHold,
    PayoutMethodChange,
)
from apps.payouts.models.methods import (
    DEFAULT_THRESHOLDS,
    DESTINATION_FIELDS,
    FxRate,
    PayoutMethod,
    destination_request_details,
)
from apps.payouts.models.payouts import (
    FailedPayout,
    FxLockMode,
    Payout,
    PayoutAllocation,
    PayoutRun,
    PayoutRunLine,
    PayoutStatus,
    PendingApprovalPayout,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DESTINATION_FIELDS",
    "DecisionStatus",
    "FailedPayout",
    "FxLockMode",
    "FxRate",
    "ManualAdjustment",
    "Payout",
    "PayoutAllocation",
    "PayoutHold",
    "PayoutMethod",
    "PayoutMethodChange",
    "PayoutRun",
    "PayoutRunLine",
    "PayoutStatus",
    "PendingApprovalPayout",
    "destination_request_details",
]
