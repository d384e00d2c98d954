"""Every write to the commissions app. One module per concern; import from here."""

from apps.commissions.services.accrual import (
    cpa_evaluate,
    cpa_qualification,
    payable_lots,
    player_accruals_on_exclusion,
    player_cpa_fail_on_exclusion,
    purchase_accrue,
    purchase_refund_accrue,
    revenue_accrue,
    symbol_lookup,
    trade_accrue,
)
from apps.commissions.services.clawbacks import (
    ClawbackError,
    clawback_case_approve,
    clawback_case_dismiss,
    clawback_case_open,
)
from apps.commissions.services.ledger import (
    LedgerError,
    Line,
    commission_entries_set_status,
    entry_book,
    open_period,
    overrides_book,
    plan_for,
    plan_for_period,
)
from apps.commissions.services.plans import (
    PLAN_TERM_FIELDS,
    PlanError,
    plan_assignment_create,
    plan_create,
    plan_has_accrued,
    plan_update,
    plan_version_create,
    plan_versions_applied,
)
from apps.commissions.services.restatements import revshare_restatement_book
from apps.commissions.services.statements import (
    StatementError,
    statement_adjustments,
    statement_approve,
    statement_entries,
    statements_close,
)

__all__ = [
    "PLAN_TERM_FIELDS", "ClawbackError", "LedgerError", "Line", "PlanError", "StatementError", "clawback_case_approve",
    "clawback_case_dismiss", "clawback_case_open", "commission_entries_set_status", "cpa_evaluate",
    "cpa_qualification", "entry_book", "open_period", "overrides_book", "payable_lots", "plan_assignment_create", "plan_create",
    "plan_for", "plan_for_period", "plan_has_accrued", "plan_update", "plan_version_create", "plan_versions_applied",
    "player_accruals_on_exclusion", "player_cpa_fail_on_exclusion", "purchase_accrue", "purchase_refund_accrue", "revenue_accrue", "revshare_restatement_book",
    "statement_adjustments", "statement_approve", "statement_entries", "statements_close", "symbol_lookup", "trade_accrue",
]
