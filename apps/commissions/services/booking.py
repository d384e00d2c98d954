"""How an accrual is booked: through the compliance gate (a blocked line is booked suppressed with
its reason), with its sub-affiliate overrides, and reversed with them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from apps.commissions.calculators import ledger_amount
from apps.commissions.models import CommissionEntry
from apps.commissions.services.ledger import Kind, Line, Status, entry_book, overrides_book
from apps.compliance.gates import accrual_gate
from apps.players.models import Player


def book_with_overrides(*, line: Line, player: Player, source_event_id: int) -> CommissionEntry:
    entry, created = entry_book(line=line, source_event_id=source_event_id)
    if created:
        overrides_book(lines=[entry], brand=player.brand, source_event_id=source_event_id)
    return entry


def gate_line(line: Line, *, player: Player, purpose: str, kyc_required: bool = True) -> Line:
    gate = accrual_gate(
        player=player,
        affiliate=line.affiliate,
        at=line.occurred_at,
        purpose=purpose,
        kyc_required=kyc_required,
    )
    if not gate.allowed:
        line.status, line.status_reason = Status.SUPPRESSED, gate.reason
    elif gate.override_id:
        line.detail["override_id"] = gate.override_id
    return line


def reverse_with_overrides(
    fee: CommissionEntry, *, share: Decimal, occurred_at: dt.datetime, key: str, detail: dict
) -> list[CommissionEntry]:
    """Negative lines reversing `share` of an approved line and of its parents' overrides,
    booked once per `key` in the first open period."""
    booked = []
    originals = [
        fee,
        *CommissionEntry.objects.filter(
            basis=fee, kind=Kind.OVERRIDE, status__in=[Status.APPROVED, Status.PAID]
        ).order_by("pk"),
    ]
    for original in originals:
        line = Line(
            kind=Kind.REVERSAL,
            affiliate=original.affiliate,
            player=original.player,
            plan=original.plan,
            amount=-ledger_amount(original.amount * share),
            currency=original.currency,
            occurred_at=occurred_at,
            status=Status.APPROVED,
            reverses=original,
            detail=dict(detail),
        )
        entry, _ = entry_book(line=line, idempotency_key=f"{key}:{original.pk}")
        booked.append(entry)
    return booked
