"""Every write to payouts: methods, payout runs, and the payout state machine.

    draft -> pending_approval -> approved -> submitted -> completed | failed
    failed -> submitted (retry, same reference) | cancelled
    failed -> pending_approval (paid through another method: a new destination, approved anew)

plus the moves the outside world forces on us: the gateway may confirm or fail a payout before
our own record says it accepted the request (approved -> completed | failed), and may confirm
one we recorded as failed (failed -> completed: the money moved, the gateway is the truth).
Draft and pending payouts can be cancelled. Completed and cancelled are final.

Every transition locks the payout row (`select_for_update`; several rows in pk order), checks
its guard (`can_<transition>`, raising `PayoutTransitionRefused` with a message fit for the
admin), and writes its audit row in the same transaction. Approval needs the Finance
permission `payouts.approve_payout` and, with maker-checker on, an approver other than the
preparer. Approval queues the gateway request as an outbound delivery in the same
transaction (the delivery row is the outbox), with `Idempotency-Key: <reference>`.

Where the money goes is dual-controlled (DOMAIN.md "Controls"): submission for approval copies
the method's destination onto the payout (`Payout.destination`), and every gateway request,
first or retry, is built from that copy. Switching a payout to another method copies the new
destination and, for a failed payout, sends it back for approval, which its changer can never
give. A payout whose affiliate has a destination change waiting for approval cannot be
approved (apps.payouts.method_changes).

One module per concern; callers import from this package:

- `common`: the errors, the audited fields, locking and auditing one payout;
- `guards`: the transitions table and the `can_<transition>` guards;
- `gateway`: the gateway endpoint and request, and the subscriber events;
- `transitions`: the moves Finance makes (submit, approve, retry, change method, cancel);
- `outcomes`: the moves the gateway forces (submitted, completed, failed) and paid ledger lines;
- `methods`: adding a payout method directly (bootstrap);
- `runs`: payout runs and balances;
- `holds`: holds on an affiliate's payable balance.
"""

from apps.payouts.services.common import (
    APPROVE_PERMISSION,
    PayoutError,
    PayoutNotFound,
    PayoutTransitionRefused,
)
from apps.payouts.services.gateway import (
    GATEWAY_TOPIC,
    gateway_endpoint,
    gateway_request_body,
)
from apps.payouts.services.guards import (
    TRANSITIONS,
    allowed,
    can_approve,
    can_cancel,
    can_change_method,
    can_change_method_status,
    can_mark_completed,
    can_mark_failed,
    can_retry,
    can_submit_for_approval,
    pending_destination_changes,
)
from apps.payouts.services.holds import payout_hold_place, payout_hold_release
from apps.payouts.services.methods import payout_method_create
from apps.payouts.services.outcomes import (
    payout_mark_completed,
    payout_mark_failed,
    payout_mark_submitted,
)
from apps.payouts.services.runs import (
    affiliate_balances,
    new_reference,
    payout_run_create,
    unpaid_statements,
)
from apps.payouts.services.transitions import (
    BulkResult,
    payout_approve,
    payout_cancel,
    payout_change_method,
    payout_retry,
    payout_submit_for_approval,
    payouts_approve,
)

__all__ = [
    "APPROVE_PERMISSION",
    "GATEWAY_TOPIC",
    "TRANSITIONS",
    "BulkResult",
    "PayoutError",
    "PayoutNotFound",
    "PayoutTransitionRefused",
    "affiliate_balances",
    "allowed",
    "can_approve",
    "can_cancel",
    "can_change_method",
    "can_change_method_status",
    "can_mark_completed",
    "can_mark_failed",
    "can_retry",
    "can_submit_for_approval",
    "gateway_endpoint",
    "gateway_request_body",
    "new_reference",
    "payout_approve",
    "payout_cancel",
    "payout_change_method",
    "payout_hold_place",
    "payout_hold_release",
    "payout_mark_completed",
    "payout_mark_failed",
    "payout_mark_submitted",
    "payout_method_create",
    "payout_retry",
    "payout_run_create",
    "payout_submit_for_approval",
    "payouts_approve",
    "pending_destination_changes",
    "unpaid_statements",
]
