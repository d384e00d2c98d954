"""Instruments, commission plans with their tiers and lot rates, and dated plan assignments."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from apps.commissions.models.common import _CURRENCY_CHECK, PERCENT
from apps.core.models import TimeStampedModel
from apps.core.money import CurrencyField, MoneyField, RoundingMode


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
