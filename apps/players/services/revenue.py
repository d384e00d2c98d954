"""Revenue reports and their restatements."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
from apps.players.facts import RevenueReport
from apps.players.locks import player_lock
from apps.players.models import Player
from apps.players.services.common import (
    FactError,
    checked_amount,
    checked_aware,
    checked_currency,
    checked_optional_amount,
    checked_required,
    insert_fact,
)

# --- revenue ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueReportResult:
    """`created`: this call stored the report. `is_current`: it is the report in force for its
    player and day. `superseded`: the report it restated (None when first, or stored as history)."""

    report: RevenueReport
    created: bool
    is_current: bool
    superseded: RevenueReport | None = None


def revenue_report_record(
    *,
    player: Player,
    system: str,
    report_id: str,
    date: dt.date,
    currency: str,
    stakes: Decimal,
    winnings: Decimal,
    bonuses: Decimal | None = None,
    jackpot_contributions: Decimal | None = None,
    taxes: Decimal | None = None,
    payment_fees: Decimal | None = None,
    adjustments: Decimal | None = None,
    occurred_at: dt.datetime,
    source_event_id: int | None,
) -> RevenueReportResult:
    """Record a daily revenue report once per (system, report_id).

    The newest report (by `occurred_at`; ties: the one recorded last) for a player and day is
    current; the one it replaces stays as history, `superseded_by` the new one. A report older
    than the current one is kept as history, superseded by the current one.
    """
    checked_required(system, "system")
    checked_required(report_id, "report_id")
    checked_aware(occurred_at, "occurred_at")
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise FactError(f"date must be a date, got {date!r}.")
    figures = {
        "stakes": checked_amount(stakes, "stakes", non_negative=True),
        "winnings": checked_amount(winnings, "winnings", non_negative=True),
        "bonuses": checked_optional_amount(bonuses, "bonuses"),
        "jackpot_contributions": checked_optional_amount(
            jackpot_contributions, "jackpot_contributions"
        ),
        "taxes": checked_optional_amount(taxes, "taxes"),
        "payment_fees": checked_optional_amount(payment_fees, "payment_fees"),
        "adjustments": checked_optional_amount(adjustments, "adjustments"),
    }
    currency = checked_currency(currency)
    with transaction.atomic():
        player_lock(player)
        report, created = insert_fact(
            RevenueReport,
            key={"system": system, "report_id": report_id},
            values={
                "player": player,
                "date": date,
                "currency": currency,
                "occurred_at": occurred_at,
                "source_event_id": source_event_id,
                **figures,
            },
        )
        if not created:
            if report.player_id != player.pk:
                raise FactError(
                    f"Revenue report {system}:{report_id} was recorded for another player."
                )
            return RevenueReportResult(report=report, created=False, is_current=report.is_current)

        current = (
            RevenueReport.objects.filter(player=player, date=date, is_current=True)
            .exclude(pk=report.pk)
            .first()
        )
        if current is not None and occurred_at < current.occurred_at:
            # Late and older: history only.
            RevenueReport.objects.filter(pk=report.pk, date=date).update(superseded_by=current)
            report.superseded_by = current
            return RevenueReportResult(report=report, created=True, is_current=False)

        if current is not None:
            # Clear the old current row first: one current report per day is a unique index.
            RevenueReport.objects.filter(pk=current.pk, date=date).update(
                is_current=False, superseded_by=report
            )
            current.is_current, current.superseded_by = False, report
            audit_record(
                action="revenue_report.restated",
                instance=report,
                actor_label=system,
                before={"report": current.pk, "ggr": str(current.ggr)},
                after={"report": report.pk, "ggr": str(report.ggr)},
            )
        # With the partition key (`date`): the update reads one month's partition, not all.
        RevenueReport.objects.filter(pk=report.pk, date=date).update(is_current=True)
        report.is_current = True
    return RevenueReportResult(report=report, created=True, is_current=True, superseded=current)
