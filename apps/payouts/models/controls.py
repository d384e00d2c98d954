"""Decided by a second person: destination changes of a payout method, holds on a balance and
manual adjustments."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.display import format_money
from apps.core.money import CurrencyField, MoneyField
from apps.payouts.models.methods import _CURRENCY_RE, PayoutMethod


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
        help_text="First day of the month it belongs to (a closed month books into the next open "
        "one)."
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
        return (
            f"Adjustment #{self.pk}: {format_money(self.amount, self.currency)} for affiliate "
            f"#{self.affiliate_id} ({self.status})"
        )
