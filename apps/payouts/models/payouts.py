"""Payout runs, payouts and their state, the two queues, run lines and the allocation of each
payout to the ledger lines it pays."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.display import format_money
from apps.core.money import CurrencyField, MoneyField
from apps.payouts.models.methods import _CURRENCY_RE, PayoutMethod


class PayoutRun(models.Model):
    """One run that turned affiliates' approved, unpaid balances into draft payouts.

    Each affiliate and currency considered gets a `PayoutRunLine`: a payout, or the balance
    carried forward (under the threshold, no method) with the reason.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(
        max_length=20, help_text="statements or ledger: what balances were read."
    )
    payout_count = models.PositiveIntegerField(default=0)
    carried_forward_count = models.PositiveIntegerField(default=0)
    totals = models.JSONField(default=dict, blank=True, help_text="Payout totals per currency.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Payout run #{self.pk} ({self.created_at:%Y-%m-%d %H:%M})"


class PayoutStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved (request queued)"
    SUBMITTED = "submitted", "Submitted to gateway"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class FxLockMode(models.TextChoices):
    STATEMENT_APPROVAL = "statement_approval", "At statement approval"
    DISBURSEMENT = "disbursement", "At disbursement (payout approval)"


class Payout(models.Model):
    """One payment to one affiliate through one method, identified by our unique `reference`.

    `source_amount`/`source_currency` is what the affiliate earned (approved statements);
    `amount`/`currency` what the method pays, converted at the locked rate (`fx_*`, the same
    figure on both sides). The reference is the gateway's idempotency key and stays the same
    through retries.
    """

    Status = PayoutStatus

    reference = models.CharField(max_length=40, unique=True)
    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="payouts"
    )
    method = models.ForeignKey(PayoutMethod, on_delete=models.PROTECT, related_name="payouts")
    run = models.ForeignKey(
        PayoutRun, null=True, blank=True, on_delete=models.PROTECT, related_name="payouts"
    )
    amount = MoneyField()
    currency = CurrencyField()
    source_amount = MoneyField()
    source_currency = CurrencyField()
    fx_rate = models.DecimalField(
        max_digits=24, decimal_places=10, help_text="1 source currency = rate currency."
    )
    fx_source = models.CharField(max_length=100)
    fx_as_of = models.DateTimeField(help_text="Publication time of the rate used.")
    fx_locked_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rate became final."
    )
    fx_lock_mode = models.CharField(max_length=20, choices=FxLockMode.choices)
    status = models.CharField(
        max_length=20, choices=PayoutStatus.choices, default=PayoutStatus.DRAFT, db_index=True
    )
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination = models.JSONField(
        null=True,
        blank=True,
        help_text="Where the money goes, as approved: the method's kind, currency, account details "
        "and "
        "beneficiary, copied when the payout is submitted for approval. Every gateway request is "
        "built from it, never from the method's current values.",
    )
    destination_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Who last switched this payout to another method; they can never approve it.",
    )
    gateway_reference = models.CharField(max_length=200, blank=True)
    failure_code = models.CharField(max_length=100, blank=True)
    failure_reason = models.TextField(blank=True)
    submission_count = models.PositiveIntegerField(
        default=0, help_text="Requests sent to the gateway (retries included)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_for_approval_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("approve_payout", "Can approve payouts (Finance)")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(
                condition=Q(source_amount__gt=0), name="payout_source_amount_positive"
            ),
            models.CheckConstraint(condition=Q(fx_rate__gt=0), name="payout_fx_rate_positive"),
            models.CheckConstraint(
                condition=Q(status__in=PayoutStatus.values), name="payout_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(fx_lock_mode__in=FxLockMode.values), name="payout_fx_lock_mode_valid"
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=_CURRENCY_RE, source_currency__regex=_CURRENCY_RE),
                name="payout_currency_codes",
            ),
            # Past approval a payout always names its approver and its final rate.
            models.CheckConstraint(
                condition=Q(status__in=["draft", "pending_approval"])
                | Q(
                    approved_by__isnull=False, approved_at__isnull=False, fx_locked_at__isnull=False
                )
                | Q(status="cancelled", approved_at__isnull=True),
                name="payout_approval_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(status="completed") | Q(completed_at__isnull=False),
                name="payout_completion_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(status="failed") | ~Q(failure_reason=""),
                name="payout_failure_has_reason",
            ),
            # Submitted for approval means a destination was recorded for the approver to see.
            models.CheckConstraint(
                condition=Q(status__in=["draft", "cancelled"]) | Q(destination__isnull=False),
                name="payout_destination_recorded",
            ),
        ]
        indexes = [
            models.Index(fields=["affiliate", "status"], name="payout_affiliate_status_idx"),
            # The read API's keyset pages and the admin's default order (either direction).
            models.Index(fields=["created_at", "id"], name="payout_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {format_money(self.amount, self.currency)}"

    def gateway_request_key(self, number: int) -> str:
        """The outbox idempotency key of the payout's `number`th request to the gateway (one per
        submission, retries included; the gateway's Idempotency-Key header is the reference)."""
        return f"payout-request:{self.reference}:{number}"


class PendingApprovalPayout(Payout):
    """Admin queue: payouts waiting for a Finance approver."""

    class Meta:
        proxy = True
        verbose_name = "payout pending approval"
        verbose_name_plural = "payouts pending approval"


class FailedPayout(Payout):
    """Admin queue: payouts the gateway failed (or never accepted), awaiting a Finance decision."""

    class Meta:
        proxy = True
        verbose_name = "failed payout"
        verbose_name_plural = "failed payouts"


class PayoutRunLine(models.Model):
    """What a payout run decided for one affiliate and source currency.

    `outcome` is `payout` (a draft payout was created), `carried_forward` (kept for the next
    run: under the method's threshold, or no active payout method) or `held` (the affiliate's
    balance is held: see PayoutHold), with `note` saying why.
    """

    class Outcome(models.TextChoices):
        PAYOUT = "payout", "Payout created"
        CARRIED_FORWARD = "carried_forward", "Carried forward"
        HELD = "held", "Held"

    run = models.ForeignKey(PayoutRun, on_delete=models.CASCADE, related_name="lines")
    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="+"
    )
    source_amount = MoneyField()
    source_currency = CurrencyField()
    converted_amount = MoneyField(null=True, blank=True)
    method_currency = CurrencyField(blank=True)
    threshold = MoneyField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    payout = models.OneToOneField(
        Payout, null=True, blank=True, on_delete=models.PROTECT, related_name="run_line"
    )
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["run", "affiliate", "source_currency"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="payout", payout__isnull=False)
                | Q(outcome__in=["carried_forward", "held"], payout__isnull=True),
                name="payoutrunline_outcome_consistent",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.affiliate_id}: {format_money(self.source_amount, self.source_currency)} -> "
            f"{self.get_outcome_display()}"
        )


class PayoutAllocation(models.Model):
    """One approved statement carried by one payout: how payouts and the ledger meet.

    The ledger rows are not touched when a payout is created: the statement is reserved here
    (at most one live allocation per statement, enforced by the database). Confirmation by the
    gateway marks the statement's ledger rows paid; a cancelled payout releases its
    allocations (`released_at`), which returns the amount to the affiliate's balance.
    """

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="allocations")
    statement = models.ForeignKey(
        "commissions.Statement", on_delete=models.PROTECT, related_name="payout_allocations"
    )
    amount = MoneyField(help_text="The statement total, in the statement currency.")
    currency = CurrencyField()
    created_at = models.DateTimeField(auto_now_add=True)
    released_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(
        null=True, blank=True, help_text="When the gateway confirmed the payout."
    )

    class Meta:
        ordering = ["payout", "statement"]
        constraints = [
            models.UniqueConstraint(
                fields=["statement"],
                condition=Q(released_at__isnull=True),
                name="payoutallocation_one_live_per_statement",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True) | Q(paid_at__isnull=True),
                name="payoutallocation_paid_not_released",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payout_id} <- statement {self.statement_id}"
