"""Commission plans, their dated assignments, the commission ledger, clawback cases and statements.

The ledger (`CommissionEntry`) is the single source of truth for what an affiliate earned:
balances and statements are sums over it, never stored counters. Rows are written only by
`apps.commissions.services` and never change their amounts; see `CommissionEntry` for the
one narrow exception (status).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from apps.core.display import format_money
from apps.core.models import TimeStampedModel
from apps.core.money import CurrencyField, MoneyField, RoundingMode

PERCENT = {
    "max_digits": 9,
    "decimal_places": 4,
    "validators": [MinValueValidator(0), MaxValueValidator(100)],
}
_CURRENCY_CHECK = Q(currency__regex=r"^[A-Z]{3,4}$")


class InstrumentGroup(models.Model):
    """One family of traded instruments that shares a per-lot rebate rate (fx_major, metals...)."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class InstrumentSymbol(models.Model):
    """One trading-platform symbol (EURUSD, XAUUSD, US30...) and the group whose rate it earns.

    `contract_size` and `spread` (the operator's typical spread in price units) turn lots into
    spread revenue for spread-share plans: spread x contract size x lots.
    Broker suffixes (EURUSD.m, XAUUSD#) are stripped before the lookup.
    """

    symbol = models.CharField(
        max_length=64, unique=True, help_text="Upper case, without broker suffix."
    )
    group = models.ForeignKey(InstrumentGroup, on_delete=models.PROTECT, related_name="symbols")
    contract_size = models.DecimalField(max_digits=20, decimal_places=4, default=Decimal(100000))
    spread = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        default=Decimal(0),
        help_text="Typical spread in price units.",
    )

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.CheckConstraint(
                condition=Q(symbol__regex=r"^[A-Z0-9]+$"), name="symbol_upper_plain"
            )
        ]

    def __str__(self) -> str:
        return f"{self.symbol} ({self.group.code})" if self.group_id else self.symbol


class Plan(TimeStampedModel):
    """One commission plan: how an affiliate is paid for the players it brings to a brand.

    Which rule applies is configuration, not code (DOMAIN.md "Commission plans"). Fields that do
    not apply to the plan's kind are ignored; `clean()` rejects contradictory settings.
    """

    class Kind(models.TextChoices):
        CPA = "cpa", "CPA"
        REVSHARE = "revshare", "RevShare"
        HYBRID = "hybrid", "Hybrid (CPA + RevShare)"
        LOT_REBATE = "lot_rebate", "Forex IB per-lot rebate"
        SPREAD_SHARE = "spread_share", "Forex spread share"
        PROP_FEE = "prop_fee", "Prop firm fee share"

    class TierBasis(models.TextChoices):
        NGR = "ngr", "NGR band"
        FTD_COUNT = "ftd_count", "Qualified FTD count"

    class TierMode(models.TextChoices):
        WHOLE = "whole", "Whole (one rate for all)"
        MARGINAL = "marginal", "Marginal (each band at its rate)"

    class Carryover(models.TextChoices):
        CARRY = "carry", "Carry negative NGR forward"
        RESET = "reset", "Reset every period"

    class Side(models.TextChoices):
        CLOSE = "close", "Closing deal"
        OPEN = "open", "Opening deal"

    name = models.CharField(max_length=200, unique=True)
    # Versions (DOMAIN.md "Controls": terms are versioned). A row is one version of a plan's terms
    # and is never edited once anything accrued under it; a change is a new row of the same family
    # with an effective date. Version 1 is the family's first row (`family` empty, in force from
    # the start); later versions name it in `family`.
    family = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="versions",
        help_text="The plan's first version; empty on the first version itself.",
    )
    version = models.PositiveSmallIntegerField(default=1, db_default=1)
    effective_from = models.DateField(
        null=True,
        blank=True,
        help_text="Operator-local date this version takes effect; empty on version 1.",
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    currency = CurrencyField(default="EUR")
    rounding_mode = models.CharField(
        max_length=10, choices=RoundingMode.choices, default=RoundingMode.HALF_EVEN
    )

    # CPA
    cpa_amount = MoneyField(default=Decimal(0))
    cpa_min_ftd = MoneyField(
        default=Decimal(0), help_text="Minimum first-time deposit, in the plan currency."
    )
    cpa_ftd_sum_24h = models.BooleanField(
        default=False, help_text="FTD = deposits in the first 24 h summed."
    )
    cpa_min_wagering = MoneyField(
        default=Decimal(0), help_text="Minimum stakes; 0 = no wagering rule."
    )
    cpa_kyc_required = models.BooleanField(default=True)
    cpa_window_days = models.PositiveIntegerField(
        default=30, help_text="Qualify within this many days of registration."
    )
    cpa_hold_days = models.PositiveIntegerField(
        default=0, help_text="Approval hold after qualification."
    )
    cpa_tier_mode = models.CharField(
        max_length=10, choices=TierMode.choices, default=TierMode.WHOLE
    )
    clawback_window_days = models.PositiveIntegerField(default=90)

    # RevShare
    revshare_percent = models.DecimalField(default=Decimal(0), **PERCENT)
    deduct_bonuses = models.BooleanField(default=True)
    deduct_jackpot = models.BooleanField(default=True)
    deduct_taxes = models.BooleanField(default=True)
    deduct_payment_fees = models.BooleanField(default=True)
    deduct_chargebacks = models.BooleanField(
        default=True, help_text="Through reviewed clawback cases."
    )
    deduct_adjustments = models.BooleanField(default=True)
    admin_fee_percent = models.DecimalField(default=Decimal(0), **PERCENT)
    revshare_tier_basis = models.CharField(
        max_length=10, choices=TierBasis.choices, default=TierBasis.NGR
    )
    revshare_tier_mode = models.CharField(
        max_length=10, choices=TierMode.choices, default=TierMode.WHOLE
    )
    carryover = models.CharField(max_length=10, choices=Carryover.choices, default=Carryover.RESET)

    # Forex
    rebate_side = models.CharField(max_length=10, choices=Side.choices, default=Side.CLOSE)
    min_hold_seconds = models.PositiveIntegerField(default=0)
    spread_share_percent = models.DecimalField(default=Decimal(0), **PERCENT)

    # Prop firms
    prop_fee_percent = models.DecimalField(default=Decimal(0), **PERCENT)
    prop_first_purchase_only = models.BooleanField(default=True)
    prop_refund_window_days = models.PositiveIntegerField(default=14)

    # Sub-affiliate override: what an affiliate on this plan earns on its sub-affiliates.
    override_percent = models.DecimalField(default=Decimal(0), **PERCENT)
    override_depth = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=["cpa", "revshare", "hybrid", "lot_rebate", "spread_share", "prop_fee"]
                ),
                name="plan_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(rounding_mode__in=["half_even", "half_up"]), name="plan_rounding_valid"
            ),
            models.CheckConstraint(
                condition=Q(cpa_amount__gte=0, cpa_min_ftd__gte=0, cpa_min_wagering__gte=0),
                name="plan_cpa_non_negative",
            ),
            models.CheckConstraint(condition=_CURRENCY_CHECK, name="plan_currency_code"),
            models.CheckConstraint(
                condition=Q(override_depth__gte=1, override_depth__lte=5),
                name="plan_override_depth",
            ),
            models.CheckConstraint(
                condition=Q(version=1, family__isnull=True, effective_from__isnull=True)
                | Q(version__gt=1, family__isnull=False, effective_from__isnull=False),
                name="plan_version_consistent",
            ),
            models.UniqueConstraint(
                fields=["family", "version"], name="plan_unique_family_version"
            ),
            models.UniqueConstraint(
                fields=["family", "effective_from"], name="plan_unique_family_effective"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def family_root_id(self) -> int:
        """The id of the plan's first version: what identifies the plan across versions."""
        return self.family_id or self.pk

    def clean(self) -> None:
        errors = {}
        if self.rebate_side == self.Side.OPEN and self.min_hold_seconds:
            errors["min_hold_seconds"] = (
                "The hold time is only known when a position closes: use the close side."
            )
        if (
            self.revshare_tier_mode == self.TierMode.MARGINAL
            and self.revshare_tier_basis == self.TierBasis.FTD_COUNT
        ):
            errors["revshare_tier_mode"] = (
                "Marginal bands apply to NGR amounts; FTD-count tiers are whole."
            )
        if errors:
            raise ValidationError(errors)

    @property
    def pays_cpa(self) -> bool:
        return self.kind in (self.Kind.CPA, self.Kind.HYBRID)

    @property
    def pays_revshare(self) -> bool:
        return self.kind in (self.Kind.REVSHARE, self.Kind.HYBRID)

    @property
    def pays_trades(self) -> bool:
        return self.kind in (self.Kind.LOT_REBATE, self.Kind.SPREAD_SHARE)


class PlanTier(models.Model):
    """One band of a tiered plan: from `threshold` (inclusive) upward, `percent` applies.

    RevShare tiers: `percent` of NGR; the threshold is an NGR amount or a qualified-FTD count
    (the plan's tier basis). CPA tiers: `percent` of the CPA amount, the threshold a count of
    qualified FTDs in the period (0-10 / 11-25 / 26+ at 50/75/100% -> thresholds 0, 11, 26).
    """

    class AppliesTo(models.TextChoices):
        REVSHARE = "revshare", "RevShare"
        CPA = "cpa", "CPA"

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="tiers")
    applies_to = models.CharField(
        max_length=10, choices=AppliesTo.choices, default=AppliesTo.REVSHARE
    )
    threshold = MoneyField(default=Decimal(0))
    percent = models.DecimalField(max_digits=9, decimal_places=4, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["plan", "applies_to", "threshold"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "applies_to", "threshold"], name="plantier_unique_band"
            ),
            models.CheckConstraint(
                condition=Q(threshold__gte=0, percent__gte=0), name="plantier_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.applies_to} from {self.threshold}: {self.percent}%"


class LotRate(models.Model):
    """The per-lot rebate one plan pays for one instrument group, in the plan currency."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="lot_rates")
    group = models.ForeignKey(InstrumentGroup, on_delete=models.PROTECT, related_name="lot_rates")
    rate = MoneyField()

    class Meta:
        ordering = ["plan", "group"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "group"], name="lotrate_unique_group"),
            models.CheckConstraint(condition=Q(rate__gte=0), name="lotrate_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.rate}/lot"


class PlanAssignment(TimeStampedModel):
    """The plan one affiliate is on for one brand from `valid_from` until `valid_to` (exclusive;
    empty = open-ended). Dates are in the operator's time zone. Never two at once for the same
    affiliate and brand: `plan_assignment_create` checks for overlaps under a lock on the
    affiliate. (A btree_gist exclusion constraint would be the database-level guard, but the
    embedded PostgreSQL server ships without the btree_gist extension.)"""

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="plan_assignments"
    )
    brand = models.CharField(max_length=100)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="assignments")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["affiliate", "brand", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="assignment_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.affiliate_id}/{self.brand}: {self.plan_id} from {self.valid_from}"


class PeriodClose(models.Model):
    """One closed statement period (a calendar month in the operator's time zone).

    Once a row exists the period's ledger is frozen: later accruals for it are booked in the
    first open period after it, and re-running the close changes nothing.
    """

    period = models.DateField(unique=True, help_text="First day of the month.")
    closed_at = models.DateTimeField(auto_now_add=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    summary = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-period"]
        constraints = [
            models.CheckConstraint(condition=Q(period__day=1), name="periodclose_first_of_month")
        ]

    def __str__(self) -> str:
        return f"{self.period:%Y-%m} closed"


class CommissionEntry(models.Model):
    """One immutable line of the commission ledger: what one affiliate earned (or lost) from one
    fact, in one currency, booked in one period.

    Corrections are new rows (`reversal`, `clawback`, `adjustment`) that point at what they
    correct through `reverses`. Amounts are exact (8 places); rounding happens once, on
    statements.

    Status is the single thing that moves, and only forward (pending -> approved -> paid;
    pending -> failed / cancelled). It is kept on the row and changed by one narrow service
    (`commission_entries_set_status`) rather than in a separate status-history table because
    every balance, statement and export filters on it: a history table would put a "latest
    status" lateral join into each of those aggregates over millions of rows. The history is kept
    instead in the audit log, and a database trigger refuses any UPDATE that touches another
    column, any backward status move, and every DELETE. `statement_period` is set together with
    `approved`: the period whose statement carries the row.
    """

    class Kind(models.TextChoices):
        CPA = "cpa", "CPA"
        REVSHARE = "revshare", "RevShare"
        LOT_REBATE = "lot_rebate", "Lot rebate"
        SPREAD_SHARE = "spread_share", "Spread share"
        PROP_FEE = "prop_fee", "Prop fee"
        OVERRIDE = "override", "Sub-affiliate override"
        TIER_ADJUSTMENT = "tier_adjustment", "CPA tier adjustment"
        CLAWBACK = "clawback", "Clawback"
        REVERSAL = "reversal", "Reversal"
        ADJUSTMENT = "adjustment", "Manual adjustment"

    POSITIVE_KINDS = ("cpa", "revshare", "lot_rebate", "spread_share", "prop_fee", "override")
    NEGATIVE_KINDS = ("clawback", "reversal")

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        SUPPRESSED = "suppressed", "Suppressed (compliance)"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        PAID = "paid", "Paid"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="commission_entries"
    )
    player = models.ForeignKey(
        "players.Player",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="commission_entries",
    )
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    source_event_id = models.BigIntegerField(
        null=True, blank=True, help_text="The inbound event this line accrued from."
    )
    idempotency_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="For lines no single event caused (period close, clawback decisions).",
    )
    period = models.DateField(
        help_text="Accrual period: first day of the month, operator time zone."
    )
    occurred_at = models.DateTimeField(help_text="When what earned it happened.")
    amount = MoneyField()
    currency = CurrencyField()
    quantity = models.DecimalField(
        max_digits=20,
        decimal_places=8,
        null=True,
        blank=True,
        help_text="Lots, NGR or base amount the rate applied to.",
    )
    rate = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    position_key = models.CharField(
        max_length=400, blank=True, help_text="platform/server/position of a trade line."
    )
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals"
    )
    basis = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="overrides",
        help_text="Override lines: the sub-affiliate line they were computed from.",
    )
    restates_period = models.DateField(
        null=True,
        blank=True,
        help_text="Restatement lines: the closed period whose figures they correct.",
    )
    approve_after = models.DateTimeField(
        null=True, blank=True, help_text="End of the approval hold / refund window."
    )
    status = models.CharField(max_length=12, choices=Status.choices)
    status_reason = models.CharField(max_length=500, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    statement_period = models.DateField(
        null=True, blank=True, help_text="The period whose statement carries this approved line."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "commission line"
        verbose_name_plural = "commission lines"
        constraints = [
            models.UniqueConstraint(
                fields=["source_event_id", "kind", "affiliate"],
                name="entry_unique_event_kind_affiliate",
            ),
            # One CPA per player, ever (whatever became of it).
            models.UniqueConstraint(
                fields=["player"], condition=Q(kind="cpa"), name="entry_one_cpa_per_player"
            ),
            models.CheckConstraint(
                condition=Q(source_event_id__isnull=False) | Q(idempotency_key__isnull=False),
                name="entry_has_idempotency_key",
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "cpa",
                        "revshare",
                        "lot_rebate",
                        "spread_share",
                        "prop_fee",
                        "override",
                    ],
                    amount__gte=0,
                )
                | Q(kind__in=["clawback", "reversal"], amount__lte=0)
                | Q(kind__in=["tier_adjustment", "adjustment"]),
                name="entry_amount_sign_per_kind",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["pending", "approved", "suppressed", "failed", "cancelled", "paid"]
                ),
                name="entry_status_valid",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["suppressed", "failed", "cancelled"])
                | ~Q(status_reason=""),
                name="entry_status_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["approved", "paid"], statement_period__isnull=False)
                | (~Q(status__in=["approved", "paid"]) & Q(statement_period__isnull=True)),
                name="entry_statement_period_iff_approved",
            ),
            models.CheckConstraint(
                condition=~Q(kind="reversal") | Q(reverses__isnull=False),
                name="entry_reversal_has_original",
            ),
            models.CheckConstraint(condition=Q(period__day=1), name="entry_period_first_of_month"),
            models.CheckConstraint(condition=_CURRENCY_CHECK, name="entry_currency_code"),
        ]
        indexes = [
            models.Index(
                fields=["statement_period", "affiliate", "currency"], name="entry_statement_idx"
            ),
            models.Index(fields=["affiliate", "period"], name="entry_affiliate_period_idx"),
            models.Index(fields=["player", "kind"], name="entry_player_kind_idx"),
            models.Index(
                fields=["status", "approve_after"],
                name="entry_pending_idx",
                condition=Q(status="pending"),
            ),
            models.Index(
                fields=["position_key"], name="entry_position_idx", condition=~Q(position_key="")
            ),
            models.Index(fields=["source_event_id"], name="entry_source_event_idx"),
            # The read API's keyset pages and the admin's default order (either direction).
            models.Index(fields=["created_at", "id"], name="entry_created_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} {format_money(self.amount, self.currency)} ({self.status})"
        )

    def save(self, *args, **kwargs):
        # Immutability: the service layer changes status through a queryset update, never save().
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Commission entries are immutable; book a correcting entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Commission entries are never deleted; book a reversal instead.")


class ClawbackCase(models.Model):
    """One chargeback under Finance review, with the negative lines it proposes.

    Approving books the proposals as ledger lines in the current period; dismissing books
    nothing. Either way the decision, its author and reason are kept and audited.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        APPROVED = "approved", "Approved"
        DISMISSED = "dismissed", "Dismissed"

    player = models.ForeignKey(
        "players.Player", on_delete=models.PROTECT, related_name="clawback_cases"
    )
    chargeback_id = models.CharField(
        max_length=255,
        unique=True,
        help_text="The chargeback's id: one case per chargeback, whichever system reports it and however often.",
    )
    chargeback_event_id = models.BigIntegerField(
        unique=True, help_text="The chargeback.created event that opened it."
    )
    chargeback_reference = models.CharField(max_length=255, blank=True)
    chargeback_amount = MoneyField()
    currency = CurrencyField()
    chargeback_at = models.DateTimeField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["status", "-created_at", "-id"]
        verbose_name = "clawback case"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "approved", "dismissed"]),
                name="clawback_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="open", decided_at__isnull=True)
                | (~Q(status="open") & Q(decided_at__isnull=False) & ~Q(decision_reason="")),
                name="clawback_decision_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"Clawback #{self.pk}: player #{self.player_id} {format_money(self.chargeback_amount, self.currency)}"


class ClawbackCaseEvent(models.Model):
    """One report of a case's chargeback: the one that opened the case, then every repeat (the
    same chargeback id sent again, or by another system). Repeats book and propose nothing; they
    are the case's history."""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened the case"
        REPEATED = "repeated", "Reported again"

    case = models.ForeignKey(ClawbackCase, on_delete=models.PROTECT, related_name="history")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source_event_id = models.BigIntegerField(help_text="The chargeback.created inbound event.")
    system = models.CharField(max_length=100)
    amount = MoneyField()
    currency = CurrencyField()
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "recorded_at", "id"]
        verbose_name = "clawback case report"
        constraints = [
            models.UniqueConstraint(
                fields=["case", "source_event_id"], name="clawbackcaseevent_unique_event"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["opened", "repeated"]), name="clawbackcaseevent_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.system} event #{self.source_event_id}"


class ClawbackProposal(models.Model):
    """One negative line a clawback case proposes (booked only if the case is approved)."""

    class Kind(models.TextChoices):
        CPA = "cpa", "CPA inside the clawback window"
        REVSHARE = "revshare", "RevShare on the chargeback (NGR deduction)"
        OVERRIDE = "override", "Parent override on the above"

    case = models.ForeignKey(ClawbackCase, on_delete=models.CASCADE, related_name="proposals")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="+"
    )
    plan = models.ForeignKey(
        Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    original = models.ForeignKey(
        CommissionEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = MoneyField()
    currency = CurrencyField()
    explanation = models.CharField(max_length=500)
    booked_entry = models.ForeignKey(
        CommissionEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["case", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__lte=0), name="clawback_proposal_negative")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {format_money(self.amount, self.currency)}"


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
