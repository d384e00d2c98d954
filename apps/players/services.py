"""Recording player facts: deposits, revenue reports, trades, purchases and chargebacks.

The inbound pipeline (apps.mappings.handlers) calls these once per event, at least once per
delivery, in any order. So every service:

- is idempotent on the fact's natural key through the database's unique constraint (`INSERT ...
  ON CONFLICT DO NOTHING`, reading the stored row on conflict; never check-then-insert);
- runs in one transaction (a savepoint when the caller, e.g. the event processor, already has
  one open);
- tolerates out-of-order arrival: flags the hub derives (first deposit, first purchase, current
  revenue report) are decided from the history it holds, under a lock on the player row, and
  move when an earlier fact arrives late;
- returns whether it created (or changed) something, so reactions such as commissions act once.

Creating a fact writes no audit row: the inbound event that recorded it (`source_event_id`) is
its record. Changes to rows already stored (a moved first-deposit flag, a restated report, a
refund) are audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.core.audit import audit_record
from apps.core.db import insert_or_skip
from apps.core.money import MoneyError, to_decimal
from apps.players.facts import Chargeback, Deposit, Purchase, RevenueReport, Trade
from apps.players.locks import player_lock
from apps.players.models import Player, PlayerIdentityValue


class FactError(ValueError):
    """A fact was refused: its input is inconsistent with itself or with what is recorded."""


class PurchaseNotFound(FactError):
    """A refund names a purchase the hub has not recorded (yet)."""


# --- input checks -----------------------------------------------------------------------------


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise FactError(f"{name} must be a timezone-aware datetime, got {value!r}.")
    return value


def _amount(
    value: object, name: str, *, positive: bool = False, non_negative: bool = False
) -> Decimal:
    try:
        amount = to_decimal(value)
    except MoneyError as exc:
        raise FactError(f"{name}: {exc}") from exc
    if positive and amount <= 0:
        raise FactError(f"{name} must be greater than zero, got {amount}.")
    if non_negative and amount < 0:
        raise FactError(f"{name} must not be negative, got {amount}.")
    return amount


def _optional_amount(value: object, name: str) -> Decimal:
    return Decimal(0) if value is None else _amount(value, name)


def _currency(value: str) -> str:
    if (
        not isinstance(value, str)
        or not (3 <= len(value) <= 4)
        or not value.isalpha()
        or not value.isupper()
    ):
        raise FactError(f"Currency must be an upper-case ISO 4217 code, got {value!r}.")
    return value


def _required(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FactError(f"{name} must be a non-empty string.")
    return value


def _insert_fact(model, *, key: dict, values: dict):
    """(fact, created): insert the fact unless its natural key `key` is stored, else the stored
    row. One `INSERT ... ON CONFLICT DO NOTHING` (no savepoint, no prior select); the new row
    holds the values as stored (decimals rounded by the database)."""
    fact = model(**key, **values)
    if insert_or_skip(fact, conflict=tuple(key)):
        return fact, True
    return model.objects.get(**key), False


# --- deposits ---------------------------------------------------------------------------------


def _claim_first(
    row,
    *,
    player: Player,
    flag: str,
    time_field: str,
    id_key: str,
    action: str,
    actor_label: str,
    reason: str,
):
    """Give a newly recorded fact the player's "first" flag if it happened before the current
    holder (or there is none). Returns (changed, previous holder). Called with the player locked.

    The old flag is cleared first: one first fact per player is a partial unique index. A move
    (a late fact that happened earlier) is audited.
    """
    model = type(row)
    previous = model.objects.filter(player=player, **{flag: True}).first()
    changed = previous is None or getattr(row, time_field) < getattr(previous, time_field)
    if not changed:
        return False, previous
    if previous is not None:
        model.objects.filter(pk=previous.pk).update(**{flag: False})
        setattr(previous, flag, False)
        audit_record(
            action=action,
            instance=row,
            actor_label=actor_label,
            before={id_key: previous.pk, time_field: getattr(previous, time_field).isoformat()},
            after={id_key: row.pk, time_field: getattr(row, time_field).isoformat()},
            reason=reason,
        )
    model.objects.filter(pk=row.pk).update(**{flag: True})
    setattr(row, flag, True)
    return True, previous


@dataclass(frozen=True)
class DepositResult:
    """`created`: this call stored the deposit. `ftd_changed`: the player's first-time deposit
    is now this deposit (first ever, or earlier than the previous one, `previous_first`)."""

    deposit: Deposit
    created: bool
    ftd_changed: bool
    previous_first: Deposit | None = None


def deposit_record(
    *,
    player: Player,
    system: str,
    deposit_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: dt.datetime,
    source_event_id: int | None,
) -> DepositResult:
    """Record a deposit once per (system, deposit_id) and keep the first-deposit flag right.

    The FTD is the player's deposit with the earliest `occurred_at` (ties: the one recorded
    first). A deposit that arrives late but happened before the current FTD takes the flag over
    and the result says so. Chargebacks that named this deposit before it arrived are linked.
    """
    _required(system, "system")
    _required(deposit_id, "deposit_id")
    amount = _amount(amount, "amount", positive=True)
    currency = _currency(currency)
    _aware(occurred_at, "occurred_at")
    with transaction.atomic():
        player_lock(player)
        deposit, created = _insert_fact(
            Deposit,
            key={"system": system, "deposit_id": deposit_id},
            values={
                "player": player,
                "amount": amount,
                "currency": currency,
                "occurred_at": occurred_at,
                "source_event_id": source_event_id,
            },
        )
        if not created:
            if deposit.player_id != player.pk:
                raise FactError(f"Deposit {system}:{deposit_id} was recorded for another player.")
            return DepositResult(deposit=deposit, created=False, ftd_changed=False)

        ftd_changed, previous = _claim_first(
            deposit,
            player=player,
            flag="is_first",
            time_field="occurred_at",
            id_key="first_deposit_id",
            action="deposit.ftd_moved",
            actor_label=system,
            reason="A deposit that happened earlier arrived late.",
        )

        # A chargeback may have named this deposit before the deposit itself arrived.
        Chargeback.objects.filter(
            player=player, deposit__isnull=True, deposit_external_id=deposit_id
        ).update(deposit=deposit)
    return DepositResult(
        deposit=deposit, created=True, ftd_changed=ftd_changed, previous_first=previous
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
    _required(system, "system")
    _required(report_id, "report_id")
    _aware(occurred_at, "occurred_at")
    if not isinstance(date, dt.date) or isinstance(date, dt.datetime):
        raise FactError(f"date must be a date, got {date!r}.")
    figures = {
        "stakes": _amount(stakes, "stakes", non_negative=True),
        "winnings": _amount(winnings, "winnings", non_negative=True),
        "bonuses": _optional_amount(bonuses, "bonuses"),
        "jackpot_contributions": _optional_amount(jackpot_contributions, "jackpot_contributions"),
        "taxes": _optional_amount(taxes, "taxes"),
        "payment_fees": _optional_amount(payment_fees, "payment_fees"),
        "adjustments": _optional_amount(adjustments, "adjustments"),
    }
    currency = _currency(currency)
    with transaction.atomic():
        player_lock(player)
        report, created = _insert_fact(
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
            RevenueReport.objects.filter(pk=report.pk).update(superseded_by=current)
            report.superseded_by = current
            return RevenueReportResult(report=report, created=True, is_current=False)

        if current is not None:
            # Clear the old current row first: one current report per day is a unique index.
            RevenueReport.objects.filter(pk=current.pk).update(
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
        RevenueReport.objects.filter(pk=report.pk).update(is_current=True)
        report.is_current = True
    return RevenueReportResult(report=report, created=True, is_current=True, superseded=current)


# --- trades -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeResult:
    trade: Trade
    created: bool


def trade_record(
    *,
    player: Player,
    system: str,
    platform: str,
    server: str,
    login: str,
    deal_id: str,
    position_id: str,
    symbol: str,
    volume_lots: Decimal,
    entry: str,
    profit: Decimal,
    currency: str,
    closed_at: dt.datetime,
    opened_at: dt.datetime | None = None,
    swap: Decimal | None = None,
    commission: Decimal | None = None,
    price: Decimal | None = None,
    source_event_id: int | None,
) -> TradeResult:
    """Record one closed deal once per (platform, server, deal_id)."""
    if platform not in Trade.Platform.values:
        raise FactError(
            f"Unknown platform {platform!r}; expected one of {', '.join(Trade.Platform.values)}."
        )
    if entry not in Trade.Entry.values:
        raise FactError(
            f"Unknown entry {entry!r}; expected one of {', '.join(Trade.Entry.values)}."
        )
    for value, name in (
        (system, "system"),
        (server, "server"),
        (login, "login"),
        (deal_id, "deal_id"),
        (position_id, "position_id"),
        (symbol, "symbol"),
    ):
        _required(value, name)
    _aware(closed_at, "closed_at")
    if opened_at is not None:
        _aware(opened_at, "opened_at")
    with transaction.atomic():
        trade, created = _insert_fact(
            Trade,
            key={"platform": platform, "server": server, "deal_id": deal_id},
            values={
                "player": player,
                "system": system,
                "login": login,
                "position_id": position_id,
                "symbol": symbol,
                "volume_lots": _amount(volume_lots, "volume_lots", non_negative=True),
                "entry": entry,
                "profit": _amount(profit, "profit"),
                "swap": _optional_amount(swap, "swap"),
                "commission": _optional_amount(commission, "commission"),
                "price": None if price is None else _amount(price, "price"),
                "currency": _currency(currency),
                "opened_at": opened_at,
                "closed_at": closed_at,
                "source_event_id": source_event_id,
            },
        )
        if created:
            return TradeResult(trade=trade, created=True)
        if trade.player_id != player.pk:
            raise FactError(f"Deal {platform}/{server}/{deal_id} was recorded for another player.")
    return TradeResult(trade=trade, created=False)


# --- purchases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseResult:
    """`first_changed`: the player's first purchase is now this one (`previous_first` lost it)."""

    purchase: Purchase
    created: bool
    first_changed: bool
    previous_first: Purchase | None = None


def purchase_record(
    *,
    player: Player,
    system: str,
    purchase_id: str,
    product: str,
    amount: Decimal,
    currency: str,
    purchased_at: dt.datetime,
    source_event_id: int | None,
) -> PurchaseResult:
    """Record a prop-firm purchase once per (system, purchase_id); the hub decides which is the
    player's first purchase (earliest `purchased_at`), moving the flag if an earlier one arrives
    late."""
    _required(system, "system")
    _required(purchase_id, "purchase_id")
    _required(product, "product")
    amount = _amount(amount, "amount", non_negative=True)
    currency = _currency(currency)
    _aware(purchased_at, "purchased_at")
    with transaction.atomic():
        player_lock(player)
        purchase, created = _insert_fact(
            Purchase,
            key={"system": system, "purchase_id": purchase_id},
            values={
                "player": player,
                "product": product,
                "amount": amount,
                "currency": currency,
                "purchased_at": purchased_at,
                "source_event_id": source_event_id,
            },
        )
        if not created:
            if purchase.player_id != player.pk:
                raise FactError(f"Purchase {system}:{purchase_id} was recorded for another player.")
            return PurchaseResult(purchase=purchase, created=False, first_changed=False)

        first_changed, previous = _claim_first(
            purchase,
            player=player,
            flag="is_first_purchase",
            time_field="purchased_at",
            id_key="first_purchase_id",
            action="purchase.first_moved",
            actor_label=system,
            reason="A purchase made earlier arrived late.",
        )
    return PurchaseResult(
        purchase=purchase, created=True, first_changed=first_changed, previous_first=previous
    )


@dataclass(frozen=True)
class PurchaseRefundResult:
    """`refunded`: this call marked the purchase refunded (False: it already was)."""

    purchase: Purchase
    refunded: bool


def purchase_refund(
    *,
    player: Player,
    system: str,
    purchase_id: str,
    amount: Decimal,
    currency: str,
    refunded_at: dt.datetime,
    source_event_id: int | None,
) -> PurchaseRefundResult:
    """Mark a recorded purchase refunded (once; a repeated refund changes nothing).

    A refund of a purchase the hub has not recorded raises PurchaseNotFound: the inbound event
    then fails and is retried, by which time the purchase has usually arrived; if it never does,
    the event ends in the dead letters for a person to look at.
    """
    _required(system, "system")
    _required(purchase_id, "purchase_id")
    amount = _amount(amount, "amount", non_negative=True)
    currency = _currency(currency)
    _aware(refunded_at, "refunded_at")
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update()
            .filter(system=system, purchase_id=purchase_id)
            .first()
        )
        if purchase is None:
            raise PurchaseNotFound(
                f"Refund of unknown purchase {system}:{purchase_id}; it has not been recorded."
            )
        if purchase.player_id != player.pk:
            raise FactError(
                f"Purchase {system}:{purchase_id} belongs to another player than the refund names."
            )
        if purchase.is_refunded:
            return PurchaseRefundResult(purchase=purchase, refunded=False)
        if currency != purchase.currency:
            raise FactError(
                f"Refund in {currency} of purchase {system}:{purchase_id} made in {purchase.currency}."
            )
        if amount > purchase.amount:
            raise FactError(
                f"Refund of {amount} exceeds purchase {system}:{purchase_id} of {purchase.amount}."
            )
        purchase.status = Purchase.Status.REFUNDED
        purchase.refunded_at = refunded_at
        purchase.refund_amount = amount
        purchase.refund_source_event_id = source_event_id
        purchase.save(
            update_fields=["status", "refunded_at", "refund_amount", "refund_source_event_id"]
        )
        audit_record(
            action="purchase.refunded",
            instance=purchase,
            actor_label=system,
            before={"status": Purchase.Status.PURCHASED},
            after={
                "status": Purchase.Status.REFUNDED,
                "refund_amount": str(amount),
                "refunded_at": refunded_at.isoformat(),
            },
        )
    return PurchaseRefundResult(purchase=purchase, refunded=True)


# --- chargebacks ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChargebackResult:
    chargeback: Chargeback
    created: bool


def _chargeback_deposit(*, player: Player, system: str, deposit_external_id: str) -> Deposit | None:
    """The player's recorded deposit with that id: from the same system, else the only one."""
    if not deposit_external_id:
        return None
    candidates = list(
        Deposit.objects.filter(player=player, deposit_id=deposit_external_id).order_by("pk")[:3]
    )
    same_system = [deposit for deposit in candidates if deposit.system == system]
    if same_system:
        return same_system[0]
    return candidates[0] if len(candidates) == 1 else None


def chargeback_record(
    *,
    player: Player,
    system: str,
    chargeback_id: str,
    amount: Decimal,
    currency: str,
    occurred_at: dt.datetime,
    deposit_external_id: str = "",
    reason: str = "",
    source_event_id: int | None,
) -> ChargebackResult:
    """Record a chargeback once per (system, chargeback_id), linked to the player's recorded
    deposit it names. If that deposit is not recorded yet, `deposit_record` links it later."""
    _required(system, "system")
    _required(chargeback_id, "chargeback_id")
    amount = _amount(amount, "amount", positive=True)
    currency = _currency(currency)
    _aware(occurred_at, "occurred_at")
    deposit_external_id = deposit_external_id or ""
    with transaction.atomic():
        # Same lock as deposit_record, so a deposit and its chargeback arriving together link.
        player_lock(player)
        chargeback, created = _insert_fact(
            Chargeback,
            key={"system": system, "chargeback_id": chargeback_id},
            values={
                "player": player,
                "amount": amount,
                "currency": currency,
                "occurred_at": occurred_at,
                "deposit_external_id": deposit_external_id,
                "deposit": _chargeback_deposit(
                    player=player, system=system, deposit_external_id=deposit_external_id
                ),
                "reason": (reason or "")[:500],
                "source_event_id": source_event_id,
            },
        )
        if created:
            return ChargebackResult(chargeback=chargeback, created=True)
        if chargeback.player_id != player.pk:
            raise FactError(f"Chargeback {system}:{chargeback_id} was recorded for another player.")
    return ChargebackResult(chargeback=chargeback, created=False)


IDENTITY_KINDS = tuple(PlayerIdentityValue.Kind.values)


def player_identity_values_record(
    *, player: Player, data: dict, seen_at: dt.datetime, source_event_id: int | None
) -> list[PlayerIdentityValue]:
    """Record the identity-bearing values an event carries for `player` (`device_hash`,
    `ip_hash`, `email_hash`, `payment_fingerprint`: WEBHOOKS.md §2), once per (player, kind,
    value). Returns the values new for this player (what the risk rules look at)."""
    _aware(seen_at, "seen_at")
    recorded = []
    for kind in IDENTITY_KINDS:
        value = data.get(kind)
        if not isinstance(value, str) or not value.strip():
            continue
        row = PlayerIdentityValue(
            player=player,
            kind=kind,
            value=value.strip(),
            first_seen_at=seen_at,
            source_event_id=source_event_id,
        )
        if insert_or_skip(row, conflict=("player_id", "kind", "value")):
            recorded.append(row)
    return recorded
