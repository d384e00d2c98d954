"""The payout state machine's transitions and guards: each `can_<transition>` raises
`PayoutTransitionRefused` with the reason (fit for the admin), or returns None."""

from __future__ import annotations

from apps.core import conf
from apps.payouts.models import (
    Payout,
    PayoutMethod,
    PayoutMethodChange,
)
from apps.payouts.selectors import held_statement_labels
from apps.payouts.services.common import (
    APPROVE_PERMISSION,
    PayoutError,
    PayoutTransitionRefused,
    S,
)

TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.PENDING_APPROVAL, S.CANCELLED}),
    S.PENDING_APPROVAL: frozenset({S.APPROVED, S.CANCELLED}),
    S.APPROVED: frozenset({S.SUBMITTED, S.COMPLETED, S.FAILED}),
    S.SUBMITTED: frozenset({S.COMPLETED, S.FAILED}),
    S.FAILED: frozenset({S.SUBMITTED, S.CANCELLED, S.COMPLETED, S.PENDING_APPROVAL}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
}


def _require_move(payout: Payout, to_status: str, verb: str) -> None:
    if to_status not in TRANSITIONS[payout.status]:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} is {payout.get_status_display().lower()}; it cannot be "
            f"{verb}."
        )


def can_submit_for_approval(payout: Payout, acting_user=None) -> None:
    if payout.status != S.DRAFT:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} is {payout.get_status_display().lower()}; it cannot be "
            "submitted for approval."
        )
    if not payout.method.is_active:
        raise PayoutTransitionRefused(
            f"The payout method of {payout.reference} is no longer active; change the method."
        )


def pending_destination_changes(affiliate_id: int):
    return PayoutMethodChange.objects.filter(
        affiliate_id=affiliate_id, status=PayoutMethodChange.Status.PENDING
    )


def can_approve(payout: Payout, acting_user) -> None:
    _require_move(payout, S.APPROVED, "approved")
    if acting_user is None or not acting_user.has_perm(APPROVE_PERMISSION):
        raise PayoutTransitionRefused(
            f"Approving payout {payout.reference} needs the Finance permission to approve payouts."
        )
    if (
        conf.flag("AFFILIATEHUB_PAYOUT_MAKER_CHECKER")
        and payout.prepared_by_id is not None
        and payout.prepared_by_id == acting_user.pk
    ):
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} was prepared by you; another Finance user must approve it "
            "(maker-checker)."
        )
    # Not subject to the maker-checker setting: destinations are always dual-controlled.
    if (
        payout.destination_changed_by_id is not None
        and payout.destination_changed_by_id == acting_user.pk
    ):
        raise PayoutTransitionRefused(
            f"You changed where payout {payout.reference} pays; another Finance user must approve "
            "it."
        )
    if payout.destination is None:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} has no recorded destination; submit it for approval."
        )
    held = held_statement_labels([payout.pk]).get(payout.pk)
    if held:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} carries a held commission line (held: {held}); it is paid "
            "once the hold is released, or cancel it."
        )
    if pending_destination_changes(payout.affiliate_id).exists():
        raise PayoutTransitionRefused(
            f"Payout {payout.reference}: the affiliate has a payout destination change waiting for "
            "approval; "
            "decide it first (Payout destination changes)."
        )


def can_retry(payout: Payout, acting_user) -> None:
    if payout.status != S.FAILED:
        raise PayoutTransitionRefused(
            f"Only failed payouts can be retried; {payout.reference} is {payout.status}."
        )
    if acting_user is None or not acting_user.has_perm(APPROVE_PERMISSION):
        raise PayoutTransitionRefused(
            "Retrying a payout needs the Finance permission to approve payouts."
        )


def can_change_method(payout: Payout, method: PayoutMethod, acting_user=None) -> None:
    if payout.status not in (S.DRAFT, S.PENDING_APPROVAL, S.FAILED):
        raise PayoutTransitionRefused(
            f"The method of payout {payout.reference} can only change while it is draft, pending "
            "approval or failed "
            f"(it is {payout.status})."
        )
    if method.affiliate_id != payout.affiliate_id:
        raise PayoutTransitionRefused("That payout method belongs to another affiliate.")
    if not method.is_active:
        raise PayoutTransitionRefused("That payout method is not active.")
    if method.pk == payout.method_id:
        raise PayoutTransitionRefused(
            f"Payout {payout.reference} already pays through that method."
        )
    if method.currency != payout.currency:
        raise PayoutTransitionRefused(
            f"The new method pays {method.currency} but payout {payout.reference} is in "
            f"{payout.currency}; "
            "cancel it and run payouts again to convert."
        )


def can_change_method_status(payout: Payout) -> None:
    """The state part of can_change_method (for the admin, before a method is chosen)."""
    if payout.status not in (S.DRAFT, S.PENDING_APPROVAL, S.FAILED):
        raise PayoutTransitionRefused(f"The method of a {payout.status} payout cannot change.")


def can_cancel(payout: Payout, acting_user=None) -> None:
    _require_move(payout, S.CANCELLED, "cancelled")


def can_mark_completed(payout: Payout) -> None:
    _require_move(payout, S.COMPLETED, "completed")


def can_mark_failed(payout: Payout) -> None:
    _require_move(payout, S.FAILED, "marked failed")


def allowed(guard, *args) -> bool:
    """Whether a guard passes (for the admin's buttons)."""
    try:
        guard(*args)
    except PayoutError:
        return False
    return True
