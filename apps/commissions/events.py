"""What the commission engine tells subscribers (WEBHOOKS.md §6): signed outbound webhooks.

`commission.accrued` / `commission.reversed` for each ledger line booked in real time (not for
suppressed lines: they are never paid), `clawback.decided` for each case decision and
`statement.approved` for each approved statement. Deliveries are rows written in the caller's
transaction (the outbox) and sent by the outbound engine after commit; each is keyed on the fact,
so booking or deciding again publishes nothing twice. Lines the period close writes in bulk reach
subscribers through `statement.approved`.
"""

from __future__ import annotations

from apps.commissions.models import ClawbackCase, CommissionEntry, Statement
from apps.integrations.outbound import public as outbound


def _entry_data(entry: CommissionEntry) -> dict:
    return {
        "entry_id": entry.pk,
        "kind": entry.kind,
        "status": entry.status,
        "affiliate_id": entry.affiliate_id,
        "player_id": entry.player_id,
        "plan_id": entry.plan_id,
        "amount": str(entry.amount),
        "currency": entry.currency,
        "period": entry.period.isoformat(),
        "source_event_id": entry.source_event_id,
        "reverses_entry_id": entry.reverses_id,
    }


def commission_entry_publish(*, entry: CommissionEntry) -> None:
    if entry.status == CommissionEntry.Status.SUPPRESSED:
        return
    event_type = (
        "commission.reversed" if entry.reverses_id or entry.amount < 0 else "commission.accrued"
    )
    outbound.subscriber_event_publish(
        event_type,
        _entry_data(entry),
        idempotency_key=f"{event_type}:{entry.pk}",
        occurred_at=entry.occurred_at,
    )


def clawback_decided_publish(*, case: ClawbackCase) -> None:
    booked = [
        _entry_data(proposal.booked_entry)
        for proposal in case.proposals.select_related("booked_entry").order_by("pk")
        if proposal.booked_entry_id
    ]
    outbound.subscriber_event_publish(
        "clawback.decided",
        {
            "case_id": case.pk,
            "decision": case.status,
            "reason": case.decision_reason,
            "player_id": case.player_id,
            "chargeback_event_id": case.chargeback_event_id,
            "booked_entries": booked,
        },
        idempotency_key=f"clawback.decided:{case.pk}",
        occurred_at=case.decided_at,
    )


def statement_approved_publish(*, statement: Statement) -> None:
    outbound.subscriber_event_publish(
        "statement.approved",
        {
            "statement_id": statement.pk,
            "affiliate_id": statement.affiliate_id,
            "period": statement.period.isoformat(),
            "currency": statement.currency,
            "total": str(statement.total),
        },
        idempotency_key=f"statement.approved:{statement.pk}",
        occurred_at=statement.approved_at,
    )
