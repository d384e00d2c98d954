"""Clawback cases: one per chargeback, its history and the proposed reversals."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.commissions.models.ledger import CommissionEntry
from apps.commissions.models.plans import Plan
from apps.core.display import format_money
from apps.core.money import CurrencyField, MoneyField


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
        help_text="The chargeback's id: one case per chargeback, whichever system reports it and "
        "however often.",
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
        return (
            f"Clawback #{self.pk}: player #{self.player_id} "
            f"{format_money(self.chargeback_amount, self.currency)}"
        )


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
