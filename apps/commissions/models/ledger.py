"""The period close and the commission ledger (`CommissionEntry`)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.commissions.models.common import _CURRENCY_CHECK
from apps.commissions.models.plans import Plan
from apps.core.display import format_money
from apps.core.money import CurrencyField, MoneyField


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


class CommissionHold(models.Model):
    """A hold on one ledger line: while it is live (`released_at` empty) the period close does
    not approve the line and a payout run pays no statement carrying it, so the money never
    leaves before someone decides. `label` is what the screens show ("risk case 41"),
    `reference` what placed it (e.g. "risk_case:41"), so the decision releases exactly its holds.
    At most one live hold per line."""

    entry = models.ForeignKey(CommissionEntry, on_delete=models.PROTECT, related_name="holds")
    reference = models.CharField(max_length=100)
    label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entry"],
                condition=Q(released_at__isnull=True),
                name="commissionhold_one_live_per_entry",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | ~Q(release_reason=""),
                name="commissionhold_release_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["reference"], name="commissionhold_reference_idx")]

    def __str__(self) -> str:
        return f"Line {self.entry_id} held: {self.label}"
