"""Payout methods, FX rates, payout runs and payouts (DOMAIN.md "Statements and payouts").

A payout moves only through `apps.payouts.services` (the state machine, with row locks and
audit rows); these models hold no business logic beyond read-only helpers.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.display import format_money
from apps.core.models import TimeStampedModel
from apps.core.money import CurrencyField, MoneyField

_CURRENCY_RE = r"^[A-Z]{3,4}$"

# Default thresholds per method kind, in the method's currency (DOMAIN.md: e-wallet 25, wire 500).
DEFAULT_THRESHOLDS = {
    "bank_wire": Decimal(500),
    "skrill": Decimal(25),
    "neteller": Decimal(25),
    "usdt": Decimal(25),
}


class PayoutMethod(TimeStampedModel):
    """One way an affiliate can be paid: a bank account, an e-wallet or a USDT wallet.

    `threshold` is the minimum amount (in `currency`) worth paying through this method; below it
    the balance carries forward to the next run. Empty means the kind's default. USDT methods
    carry the travel-rule data (beneficiary name, address, wallet address), enforced by the
    database. An affiliate's active default method is the one payout runs use.
    """

    class Kind(models.TextChoices):
        BANK_WIRE = "bank_wire", "Bank wire"
        SKRILL = "skrill", "Skrill"
        NETELLER = "neteller", "Neteller"
        USDT = "usdt", "USDT (crypto)"

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="payout_methods"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    currency = CurrencyField(
        help_text="What the affiliate receives through this method (ISO 4217, or USDT)."
    )
    threshold = MoneyField(
        null=True, blank=True, help_text="Minimum payout; empty = the kind's default."
    )
    details = models.JSONField(
        default=dict,
        blank=True,
        help_text="Bank: iban, bic, account_holder. E-wallets: email. USDT: network.",
    )
    beneficiary_name = models.CharField(max_length=200, blank=True)
    beneficiary_address = models.CharField(max_length=500, blank=True)
    wallet_address = models.CharField(max_length=200, blank=True)
    is_default = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["affiliate", "-is_default", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["bank_wire", "skrill", "neteller", "usdt"]),
                name="payoutmethod_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(currency__regex=_CURRENCY_RE), name="payoutmethod_currency_code"
            ),
            models.CheckConstraint(
                condition=Q(threshold__isnull=True) | Q(threshold__gte=0),
                name="payoutmethod_threshold_non_negative",
            ),
            # Travel rule: a crypto payout names its beneficiary and wallet.
            models.CheckConstraint(
                condition=~Q(kind="usdt")
                | (~Q(beneficiary_name="") & ~Q(beneficiary_address="") & ~Q(wallet_address="")),
                name="payoutmethod_usdt_travel_rule",
            ),
            models.UniqueConstraint(
                fields=["affiliate"],
                condition=Q(is_default=True, is_active=True),
                name="payoutmethod_one_default",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.currency} ({self.affiliate_id})"

    @property
    def effective_threshold(self) -> Decimal:
        return self.threshold if self.threshold is not None else DEFAULT_THRESHOLDS[self.kind]

    def destination(self) -> dict:
        """Where this method pays, as a payout's snapshot keeps it (see Payout.destination)."""
        return {"method_id": self.pk, **{name: getattr(self, name) for name in DESTINATION_FIELDS}}

    def request_details(self) -> dict:
        """What the gateway needs to pay through this method (as it is now)."""
        return destination_request_details(self.destination())


# The values that decide where money goes; a change to any of them is a destination change.
DESTINATION_FIELDS = (
    "kind",
    "currency",
    "details",
    "beneficiary_name",
    "beneficiary_address",
    "wallet_address",
)


def destination_request_details(destination: dict) -> dict:
    """The gateway request's `method` object for a destination snapshot."""
    data = {
        "kind": destination["kind"],
        "currency": destination["currency"],
        **(destination.get("details") or {}),
    }
    if destination["kind"] == PayoutMethod.Kind.USDT:
        data |= {
            name: destination.get(name, "")
            for name in ("beneficiary_name", "beneficiary_address", "wallet_address")
        }
    return data


class FxRate(models.Model):
    """One published exchange rate: 1 `base` = `rate` `quote`, from `source`, as of `as_of`.

    Rates are never edited in place: a new row with a later `as_of` supersedes the old one, so a
    payout's locked rate can always be traced back to the row it came from.
    """

    base = CurrencyField()
    quote = CurrencyField()
    rate = models.DecimalField(max_digits=24, decimal_places=10)
    source = models.CharField(
        max_length=100, help_text="Who published it (ECB, provider name, manual...)."
    )
    as_of = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["base", "quote", "-as_of"]
        verbose_name = "FX rate"
        constraints = [
            models.UniqueConstraint(
                fields=["base", "quote", "as_of", "source"], name="fxrate_unique_publication"
            ),
            models.CheckConstraint(condition=Q(rate__gt=0), name="fxrate_positive"),
            models.CheckConstraint(
                condition=~Q(base=models.F("quote")), name="fxrate_distinct_currencies"
            ),
            models.CheckConstraint(
                condition=Q(base__regex=_CURRENCY_RE, quote__regex=_CURRENCY_RE),
                name="fxrate_currency_codes",
            ),
        ]
        indexes = [models.Index(fields=["base", "quote", "-as_of"], name="fxrate_lookup_idx")]

    def __str__(self) -> str:
        return (
            f"1 {self.base} = {self.rate} {self.quote} ({self.source}, {self.as_of:%Y-%m-%d %H:%M})"
        )


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
        help_text="Where the money goes, as approved: the method's kind, currency, account details and "
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
        return f"{self.affiliate_id}: {format_money(self.source_amount, self.source_currency)} -> {self.get_outcome_display()}"


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


class DecisionStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


_DECIDED = Q(status="pending", decided_by__isnull=True, decided_at__isnull=True) | (
    ~Q(status="pending") & Q(decided_by__isnull=False, decided_at__isnull=False)
)


class PayoutMethodChange(models.Model):
    """One requested change to where an affiliate is paid, waiting for (or decided by) a second
    Finance user: create a method, edit its destination, deactivate it, or make it the default.

    `before` and `after` hold the method's values as they were when requested and as proposed.
    Nothing changes on the method until another Finance user than the requester approves
    (enforced by the database too); while one is pending, the affiliate's payouts cannot be
    approved.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Add a payout method"
        UPDATE = "update", "Change a payout method"
        DEACTIVATE = "deactivate", "Deactivate a payout method"
        SET_DEFAULT = "set_default", "Make a payout method the default"

    Status = DecisionStatus

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="payout_method_changes"
    )
    method = models.ForeignKey(
        PayoutMethod,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="changes",
        help_text="The method changed (for an addition: the one created on approval).",
    )
    action = models.CharField(max_length=12, choices=Action.choices)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    status = models.CharField(
        max_length=10, choices=DecisionStatus.choices, default=DecisionStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "payout destination change"
        permissions = [
            ("approve_payoutmethodchange", "Can approve payout destination changes (Finance)")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["create", "update", "deactivate", "set_default"]),
                name="payoutmethodchange_action_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=DecisionStatus.values),
                name="payoutmethodchange_status_valid",
            ),
            models.CheckConstraint(condition=_DECIDED, name="payoutmethodchange_decision_recorded"),
            models.CheckConstraint(
                condition=~Q(decided_by=F("requested_by")), name="payoutmethodchange_second_person"
            ),
            # Every change names its method, except an addition not (yet) approved.
            models.CheckConstraint(
                condition=Q(method__isnull=False)
                | Q(action="create", status__in=["pending", "rejected"]),
                name="payoutmethodchange_names_method",
            ),
        ]
        indexes = [
            models.Index(
                fields=["affiliate"],
                condition=Q(status="pending"),
                name="payoutmethodchange_pending_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} for affiliate #{self.affiliate_id} ({self.status})"


class PayoutHold(models.Model):
    """A hold on one affiliate's payable balance: payout runs leave it unpaid (a `held` run line
    with this reason) until Finance releases the hold. Payout runs place one when they meet a
    suspended or banned affiliate; at most one hold per affiliate is live."""

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="payout_holds"
    )
    reason = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("release_payouthold", "Can release held balances (Finance)")]
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate"],
                condition=Q(released_at__isnull=True),
                name="payouthold_one_live_per_affiliate",
            ),
            models.CheckConstraint(
                condition=Q(released_at__isnull=True, released_by__isnull=True)
                | (Q(released_at__isnull=False, released_by__isnull=False) & ~Q(release_reason="")),
                name="payouthold_release_recorded",
            ),
        ]

    def __str__(self) -> str:
        return f"Hold on affiliate #{self.affiliate_id}: {self.reason}"


class ManualAdjustment(models.Model):
    """A credit (positive) or debit (negative) Finance books for one affiliate by hand, with a
    reason code and a note, for a period. It reaches the ledger (a `adjustment` line, on the
    statement as its own line) only when a second Finance user approves it."""

    class ReasonCode(models.TextChoices):
        GOODWILL = "goodwill", "Goodwill credit"
        CORRECTION = "correction", "Correction of a calculation"
        MISSED_CONVERSION = "missed_conversion", "Missed conversion"
        FRAUD = "fraud", "Fraud / abuse debit"
        FEE = "fee", "Fee or charge"
        OTHER = "other", "Other (see note)"

    Status = DecisionStatus

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="manual_adjustments"
    )
    amount = MoneyField(help_text="Positive: credit to the affiliate. Negative: debit.")
    currency = CurrencyField()
    reason_code = models.CharField(max_length=20, choices=ReasonCode.choices)
    note = models.TextField()
    period = models.DateField(
        help_text="First day of the month it belongs to (a closed month books into the next open one)."
    )
    status = models.CharField(
        max_length=10, choices=DecisionStatus.choices, default=DecisionStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    entry = models.OneToOneField(
        "commissions.CommissionEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="manual_adjustment",
        help_text="The ledger line booked on approval.",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("approve_manualadjustment", "Can approve manual adjustments (Finance)")]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="manualadjustment_amount_not_zero"),
            models.CheckConstraint(
                condition=Q(currency__regex=_CURRENCY_RE), name="manualadjustment_currency_code"
            ),
            models.CheckConstraint(
                condition=Q(period__day=1), name="manualadjustment_period_first_of_month"
            ),
            models.CheckConstraint(condition=~Q(note=""), name="manualadjustment_has_note"),
            models.CheckConstraint(
                condition=Q(status__in=DecisionStatus.values), name="manualadjustment_status_valid"
            ),
            models.CheckConstraint(condition=_DECIDED, name="manualadjustment_decision_recorded"),
            models.CheckConstraint(
                condition=~Q(decided_by=F("requested_by")), name="manualadjustment_second_person"
            ),
            models.CheckConstraint(
                condition=Q(status="approved", entry__isnull=False)
                | (~Q(status="approved") & Q(entry__isnull=True)),
                name="manualadjustment_booked_iff_approved",
            ),
        ]

    def __str__(self) -> str:
        return f"Adjustment #{self.pk}: {format_money(self.amount, self.currency)} for affiliate #{self.affiliate_id} ({self.status})"
