"""Statements: an affiliate's lines for a closed period, its RevShare summary and each player's
NGR."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.commissions.models.ledger import CommissionEntry
from apps.commissions.models.plans import Plan
from apps.core.money import CurrencyField, MoneyField


class Statement(models.Model):
    """One affiliate's statement for one period in one currency, built by the period close.

    Its lines group the approved ledger rows carried by it (`CommissionEntry.statement_period`)
    by kind and plan, each rounded once. Immutable once approved; corrections go into a later
    period.
    """

    class Status(models.TextChoices):
        CLOSED = "closed", "Closed (awaiting approval)"
        APPROVED = "approved", "Approved"

    period = models.DateField()
    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="statements"
    )
    currency = CurrencyField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CLOSED)
    total = MoneyField(help_text="Sum of the rounded lines.")
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period", "affiliate", "currency"]
        permissions = [("approve_statement", "Can approve statements")]
        indexes = [
            models.Index(fields=["created_at", "id"], name="statement_created_idx")
        ]  # read API pages
        constraints = [
            models.UniqueConstraint(
                fields=["period", "affiliate", "currency"],
                name="statement_unique_period_affiliate_currency",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["closed", "approved"]), name="statement_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="closed", approved_at__isnull=True)
                | Q(status="approved", approved_at__isnull=False),
                name="statement_approval_consistent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.affiliate} {self.period:%Y-%m} {self.currency}"


class StatementLine(models.Model):
    """The approved ledger rows of one kind (and plan) on a statement, summed and rounded once.

    Restatements of closed periods are lines of their own per period they restate
    (`restates_period`): the statement shows what each earlier month was adjusted by.
    """

    statement = models.ForeignKey(Statement, on_delete=models.PROTECT, related_name="lines")
    kind = models.CharField(max_length=20, choices=CommissionEntry.Kind.choices)
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    restates_period = models.DateField(
        null=True, blank=True, help_text="Adjustments: the closed period restated."
    )
    entry_count = models.PositiveIntegerField()
    exact_amount = MoneyField(help_text="Sum of the ledger rows, unrounded.")
    amount = MoneyField(
        help_text="Rounded once to the currency's minor unit with the plan's rounding mode."
    )

    class Meta:
        ordering = ["statement", "kind", "plan"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "kind", "plan", "restates_period"],
                nulls_distinct=False,
                name="statementline_unique_kind_plan_period",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.amount.normalize():f}"


class StatementRevshare(models.Model):
    """How one plan's RevShare was computed on a statement: the period's NGR, the tier chosen and
    the carryover in and out. `carry_out` is what the next period's close starts from."""

    statement = models.ForeignKey(
        Statement, on_delete=models.PROTECT, related_name="revshare_summaries"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    player_count = models.PositiveIntegerField()
    ftd_count = models.PositiveIntegerField(default=0)
    ngr = MoneyField()
    carry_in = MoneyField(default=Decimal(0))
    base = MoneyField(help_text="NGR + carry in: what the rate applies to when positive.")
    carry_out = MoneyField(default=Decimal(0))
    commission = MoneyField()
    entry = models.ForeignKey(
        CommissionEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["statement", "plan"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "plan"], name="statementrevshare_unique_plan"
            ),
            models.CheckConstraint(
                condition=Q(carry_out__lte=0, carry_in__lte=0),
                name="statementrevshare_carry_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"NGR {self.ngr} -> {self.commission}"


class StatementPlayerNgr(models.Model):
    """One player's NGR for a statement's period under one plan (the plan's deductions and fee).

    A snapshot the period close writes once, one row per player with revenue (100,000 rows for a
    large month). Its references have no database foreign-key constraints: the deferred checks
    (one locking lookup per row and reference at commit) cost the close about as much as the
    whole revenue aggregate did, and each row is inserted by one INSERT ... SELECT joining the
    very statement, plan and player rows it names, in the close's transaction; none of those is
    ever deleted (PROTECT everywhere; statements are immutable, players and plans are referenced
    by the ledger with constraints). Indexes: the unique one (its prefix serves the statement)
    and the player's.
    """

    statement = models.ForeignKey(
        Statement,
        on_delete=models.PROTECT,
        related_name="player_ngr",
        db_index=False,
        db_constraint=False,
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="+", db_constraint=False, db_index=False
    )
    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    ggr = MoneyField()
    deductions = MoneyField()
    admin_fee = MoneyField()
    ngr = MoneyField(help_text="What earned: the NGR of the days the compliance gate let through.")
    suppressed_ngr = MoneyField(
        default=Decimal(0),
        db_default=Decimal(0),
        help_text="NGR of gated days (self-excluded, licence withdrawn): earns nothing.",
    )

    class Meta:
        ordering = ["statement", "player"]
        verbose_name = "player NGR"
        constraints = [
            models.UniqueConstraint(
                fields=["statement", "plan", "player"], name="statementplayerngr_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"player #{self.player_id}: NGR {self.ngr}"
