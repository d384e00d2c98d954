"""What every payout service shares: the errors it raises, the audited fields, and locking,
auditing and saving one payout."""

from __future__ import annotations

from apps.core.audit import audit_record, snapshot
from apps.payouts.models import (
    Payout,
    PayoutStatus,
)

S = PayoutStatus
APPROVE_PERMISSION = "payouts.approve_payout"
_AUDITED = [
    "status",
    "amount",
    "currency",
    "method_id",
    "fx_rate",
    "fx_source",
    "fx_as_of",
    "fx_locked_at",
    "gateway_reference",
    "failure_code",
    "failure_reason",
    "submission_count",
    "destination",
    "destination_changed_by_id",
    "prepared_by_id",
    "approved_by_id",
]


class PayoutError(ValueError):
    """A payout operation was refused; the message is shown to the operator as is."""


class PayoutTransitionRefused(PayoutError):
    """The payout cannot make this move from where it is (or not by this user)."""


class PayoutNotFound(PayoutError):
    pass


def _lock(payout: Payout | int) -> Payout:
    pk = payout if isinstance(payout, int) else payout.pk
    return (
        Payout.objects.select_for_update(of=("self",))
        .select_related("method", "affiliate")
        .get(pk=pk)
    )


def _lock_by_reference(reference: str) -> Payout:
    locked = (
        Payout.objects.select_for_update(of=("self",))
        .select_related("method", "affiliate")
        .filter(reference=reference)
        .first()
    )
    if locked is None:
        raise PayoutNotFound(f"No payout with reference {reference!r}.")
    return locked


def _audit(
    payout: Payout,
    action: str,
    before: dict,
    *,
    acting_user=None,
    actor_label: str = "",
    reason: str = "",
) -> None:
    audit_record(
        action=f"payout.{action}",
        instance=payout,
        actor=acting_user,
        actor_label=actor_label,
        before=before,
        after=snapshot(payout, _AUDITED),
        reason=reason,
    )


def _save(payout: Payout, *fields: str) -> None:
    payout.save(update_fields=[*fields, "updated_at"])
