"""Business facts about players, as the systems that run the business reported them.

One table per kind of fact: deposits, daily revenue reports, closed trades, prop-firm purchases
and chargebacks. Rows are written only by `apps.players.services` (the inbound pipeline calls
those services through `apps.players.handlers`); nothing edits them afterwards except the
flags the hub derives itself (first deposit, first purchase, current revenue report, refund).

Every row keeps:
- `system`: the identifier system of the sender (`crm`, `payments`, `mt5-live`...), part of
  each fact's natural key, because two systems may use the same external id;
- `source_event_id`: the id of the InboundEvent that recorded it. It is a plain indexed
  integer, not a foreign key: integrations sits below the domain apps and owns its table (which
  is to be partitioned). Later reactions to the same event (commissions, payouts) find the fact
  with `<Fact>.objects.recorded_by(event_id)`; a duplicate delivery records nothing, so they find
  nothing and act once.

Idempotency lives in the database: each fact has a unique constraint on its natural key, and
the services insert through it. Revenue reports and trades, the highest-volume facts, are
partitioned by month of their business date (`date`, `closed_at`); their natural keys live in
the key tables of `apps.players.fact_keys`, written in the same statement as the fact.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q

from apps.core.display import format_money
from apps.core.money import LEDGER_DECIMAL_PLACES, LEDGER_MAX_DIGITS, CurrencyField, MoneyField

__all__ = ["Chargeback", "Deposit", "Purchase", "RevenueReport", "Trade"]

SYSTEM_MAX_LENGTH = 64
EXTERNAL_ID_MAX_LENGTH = 255
_CURRENCY_CHECK = Q(currency__regex=r"^[A-Z]{3,4}$")


class FactQuerySet(models.QuerySet):
    def recorded_by(self, event_id: int) -> FactQuerySet:
        """Facts that inbound event `event_id` recorded (none for a duplicate delivery)."""
        return self.filter(source_event_id=event_id)


class InboundFact(models.Model):
    """Columns every fact shares: where it came from and when the hub stored it."""

    system = models.CharField(
        max_length=SYSTEM_MAX_LENGTH,
        help_text="Identifier system of the sender (crm, payments, mt5-live...).",
    )
    source_event_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Id of the inbound event that recorded this row.",
    )
    recorded_at = models.DateTimeField(auto_now_add=True, help_text="When the hub stored it.")

    objects = FactQuerySet.as_manager()

    class Meta:
        abstract = True


class Deposit(InboundFact):
    """One deposit a player made, as reported by one system (unique per system and deposit id).

    `is_first` marks the player's first-time deposit (FTD). The hub decides it from the deposits
    it holds (the earliest `occurred_at`), never from the sender; a deposit that arrives late but
    happened earlier takes the flag over. At most one row per player carries it.
    """

    player = models.ForeignKey("players.Player", on_delete=models.PROTECT, related_name="deposits")
    deposit_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH, help_text="The sender's deposit id."
    )
    amount = MoneyField()
    currency = CurrencyField()
    occurred_at = models.DateTimeField(help_text="When the deposit happened at the source.")
    is_first = models.BooleanField(
        default=False, help_text="First-time deposit, detected by the hub."
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "deposit_id"], name="deposit_unique_per_system"
            ),
            models.UniqueConstraint(
                fields=["player"], condition=Q(is_first=True), name="deposit_one_first_per_player"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="deposit_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY_CHECK, name="deposit_currency_code"),
        ]
        indexes = [
            models.Index(fields=["player", "occurred_at"], name="deposit_player_occurred_idx"),
            models.Index(
                fields=["occurred_at"], name="deposit_ftd_occurred_idx", condition=Q(is_first=True)
            ),
        ]

    def __str__(self) -> str:
        return f"Deposit {self.system}:{self.deposit_id} {format_money(self.amount, self.currency)}"


class RevenueReport(InboundFact):
    """One report of a player's casino/sportsbook figures for one day (`revenue.reported`).

    A later report for the same player and day restates the earlier one: every report is kept,
    exactly one per (player, date) is current (`is_current`), and each older one points at the
    report that superseded it. Reports are ordered by `occurred_at` (when the source produced
    them), so a report that arrives late but is older than the current one is stored as history
    and never becomes current.

    Partitioned by month of `date` (players 0004; the period close filters on it, so it reads
    only the months it closes); the database's primary key is (id, date). `(system, report_id)`
    is unique through RevenueReportKey. `superseded_by` points at a report of the same player
    and day, so the same partition: its database constraint is the composite foreign key
    (superseded_by_id, date) -> (id, date), added by the migration (Django cannot declare one).
    """

    MONEY_FIELDS = (
        "stakes",
        "winnings",
        "bonuses",
        "jackpot_contributions",
        "taxes",
        "payment_fees",
        "adjustments",
    )

    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="revenue_reports"
    )
    report_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH, help_text="The sender's report id."
    )
    date = models.DateField(help_text="The day the figures are for.")
    currency = CurrencyField()
    stakes = MoneyField()
    winnings = MoneyField()
    bonuses = MoneyField(default=Decimal(0))
    jackpot_contributions = MoneyField(default=Decimal(0))
    taxes = MoneyField(default=Decimal(0))
    payment_fees = MoneyField(default=Decimal(0))
    adjustments = MoneyField(default=Decimal(0))
    occurred_at = models.DateTimeField(
        help_text="When the source produced this report (orders restatements)."
    )
    is_current = models.BooleanField(
        default=False, help_text="The report in force for this player and day."
    )
    superseded_by = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_constraint=False,  # the composite revenue_report_superseded_same_day holds it
        related_name="superseded_reports",
    )

    class Meta:
        ordering = ["-date", "-occurred_at", "-id"]
        constraints = [
            # (system, report_id) is unique through RevenueReportKey (across partitions).
            models.UniqueConstraint(
                fields=["player", "date"],
                condition=Q(is_current=True),
                name="revenue_report_one_current_per_day",
            ),
            models.CheckConstraint(
                condition=Q(stakes__gte=0, winnings__gte=0),
                name="revenue_report_gross_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(is_current=False) | Q(superseded_by__isnull=True),
                name="revenue_report_current_not_superseded",
            ),
            models.CheckConstraint(condition=_CURRENCY_CHECK, name="revenue_report_currency_code"),
        ]
        indexes = [
            models.Index(fields=["player", "date"], name="revenue_player_date_idx"),
            models.Index(
                fields=["date"], name="revenue_current_date_idx", condition=Q(is_current=True)
            ),
        ]

    def __str__(self) -> str:
        return f"Revenue {self.system}:{self.report_id} player #{self.player_id} {self.date}"

    @property
    def ggr(self) -> Decimal:
        """Gross gaming revenue: stakes - winnings (DOMAIN.md "iGaming revenue")."""
        return self.stakes - self.winnings

    @staticmethod
    def ggr_expression() -> models.Expression:
        """GGR as a database expression, to annotate or aggregate in SQL."""
        return F("stakes") - F("winnings")


class Trade(InboundFact):
    """One closed deal on a trading platform (`trade.closed`), unique per (platform, server, deal).

    Partial closes arrive as several deals sharing a `position_id`. Volumes are standard lots,
    already converted by the feed.

    Partitioned by month of `closed_at` (players 0004); the database's primary key is
    (id, closed_at). `(platform, server, deal_id)` is unique through TradeKey.
    """

    class Platform(models.TextChoices):
        MT4 = "mt4", "MetaTrader 4"
        MT5 = "mt5", "MetaTrader 5"
        CTRADER = "ctrader", "cTrader"
        DXTRADE = "dxtrade", "DXtrade"

    class Entry(models.TextChoices):
        IN = "in", "In (open)"
        OUT = "out", "Out (close)"
        INOUT = "inout", "In/out (reverse)"
        OUT_BY = "out_by", "Out by (close-by)"

    player = models.ForeignKey("players.Player", on_delete=models.PROTECT, related_name="trades")
    platform = models.CharField(max_length=10, choices=Platform.choices)
    server = models.CharField(max_length=100)
    deal_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    login = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH, help_text="Trading account login.")
    position_id = models.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    symbol = models.CharField(max_length=64)
    volume_lots = models.DecimalField(
        max_digits=LEDGER_MAX_DIGITS, decimal_places=LEDGER_DECIMAL_PLACES
    )
    entry = models.CharField(max_length=10, choices=Entry.choices)
    profit = MoneyField()
    swap = MoneyField(default=Decimal(0))
    commission = MoneyField(default=Decimal(0))
    price = models.DecimalField(
        max_digits=LEDGER_MAX_DIGITS, decimal_places=LEDGER_DECIMAL_PLACES, null=True, blank=True
    )
    currency = CurrencyField()
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField()

    class Meta:
        ordering = ["-closed_at", "-id"]
        constraints = [
            # (platform, server, deal_id) is unique through TradeKey (across partitions).
            models.CheckConstraint(
                condition=Q(volume_lots__gte=0), name="trade_volume_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(platform__in=["mt4", "mt5", "ctrader", "dxtrade"]),
                name="trade_platform_valid",
            ),
            models.CheckConstraint(
                condition=Q(entry__in=["in", "out", "inout", "out_by"]), name="trade_entry_valid"
            ),
            models.CheckConstraint(condition=_CURRENCY_CHECK, name="trade_currency_code"),
        ]
        indexes = [
            models.Index(fields=["player", "closed_at"], name="trade_player_closed_idx"),
            models.Index(fields=["platform", "server", "position_id"], name="trade_position_idx"),
            models.Index(fields=["closed_at"], name="trade_closed_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"Deal {self.platform}/{self.server}/{self.deal_id} {self.symbol} "
            f"{self.volume_lots} lots"
        )


class Purchase(InboundFact):
    """One prop-firm product (challenge) bought by a player, unique per system and purchase id.

    `is_first_purchase` is decided by the hub from the purchases it holds (earliest
    `purchased_at`), like the first deposit. A refund keeps the row: status `refunded`, with
    when, how much and which event said so.
    """

    class Status(models.TextChoices):
        PURCHASED = "purchased", "Purchased"
        REFUNDED = "refunded", "Refunded"

    player = models.ForeignKey("players.Player", on_delete=models.PROTECT, related_name="purchases")
    purchase_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH, help_text="The sender's purchase id."
    )
    product = models.CharField(max_length=200)
    amount = MoneyField()
    currency = CurrencyField()
    purchased_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PURCHASED)
    refunded_at = models.DateTimeField(null=True, blank=True)
    refund_amount = MoneyField(null=True, blank=True, help_text="In the purchase's currency.")
    refund_source_event_id = models.BigIntegerField(
        null=True,
        blank=True,
        db_index=True,
        help_text="Id of the inbound event that reported the refund.",
    )
    is_first_purchase = models.BooleanField(
        default=False, help_text="The player's first purchase, detected by the hub."
    )

    class Meta:
        ordering = ["-purchased_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "purchase_id"], name="purchase_unique_per_system"
            ),
            models.UniqueConstraint(
                fields=["player"],
                condition=Q(is_first_purchase=True),
                name="purchase_one_first_per_player",
            ),
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(status__in=["purchased", "refunded"]), name="purchase_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(
                    status="purchased", refunded_at__isnull=True, refund_amount__isnull=True
                )
                | Q(status="refunded", refunded_at__isnull=False),
                name="purchase_refund_consistent",
            ),
            models.CheckConstraint(
                condition=Q(refund_amount__isnull=True)
                | Q(refund_amount__gte=0, refund_amount__lte=F("amount")),
                name="purchase_refund_within_amount",
            ),
            models.CheckConstraint(condition=_CURRENCY_CHECK, name="purchase_currency_code"),
        ]
        indexes = [
            models.Index(fields=["player", "purchased_at"], name="purchase_player_purchased_idx")
        ]

    def __str__(self) -> str:
        return (
            f"Purchase {self.system}:{self.purchase_id} {self.product} "
            f"{format_money(self.amount, self.currency)}"
        )

    @property
    def is_refunded(self) -> bool:
        return self.status == self.Status.REFUNDED


class Chargeback(InboundFact):
    """One chargeback against a player's payment, unique per system and chargeback id.

    `deposit_external_id` is what the sender named; `deposit` is the recorded deposit it
    resolves to, linked when the chargeback is recorded or, if the deposit arrives later, when
    the deposit is.
    """

    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="chargebacks"
    )
    chargeback_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH, help_text="The sender's chargeback id."
    )
    amount = MoneyField()
    currency = CurrencyField()
    deposit = models.ForeignKey(
        Deposit, null=True, blank=True, on_delete=models.PROTECT, related_name="chargebacks"
    )
    deposit_external_id = models.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        blank=True,
        help_text="The deposit id the sender named, if any.",
    )
    reason = models.CharField(max_length=500, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["system", "chargeback_id"], name="chargeback_unique_per_system"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="chargeback_amount_positive"),
            models.CheckConstraint(condition=_CURRENCY_CHECK, name="chargeback_currency_code"),
        ]
        indexes = [
            models.Index(fields=["player", "occurred_at"], name="chargeback_player_occurred_idx"),
            models.Index(
                fields=["player", "deposit_external_id"],
                name="chargeback_unlinked_idx",
                condition=Q(deposit__isnull=True) & ~Q(deposit_external_id=""),
            ),
        ]

    def __str__(self) -> str:
        return (
            f"Chargeback {self.system}:{self.chargeback_id} "
            f"{format_money(self.amount, self.currency)}"
        )
