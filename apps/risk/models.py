"""Risk rules, the signals they raise, and the cases that group signals and hold money."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class RiskRule(models.Model):
    """One fraud rule's settings, one row per rule (created by the migration, edited in the
    admin): whether it runs, the score a signal of it adds to a case, and its parameters
    (thresholds and windows; each rule module documents its own and their defaults)."""

    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    score = models.PositiveSmallIntegerField(
        default=20, help_text="Added to a case's score by each signal of this rule (0-100)."
    )
    params = models.JSONField(
        default=dict, blank=True, help_text="Thresholds and windows; see the rule's definition."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        permissions = [("tune_riskrule", "Can tune risk rules")]
        constraints = [
            models.CheckConstraint(condition=Q(score__lte=100), name="riskrule_score_at_most_100")
        ]

    def __str__(self) -> str:
        return self.name


class RiskCase(models.Model):
    """One affiliate under review: the signals about it (and the ring of players they name),
    grouped, with the money they hold. Open or escalated until someone clears it (the holds are
    released) or confirms it (the held lines are reversed). At most one open/escalated case per
    affiliate: every new signal about the affiliate joins it."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ESCALATED = "escalated", "Escalated"
        CLEARED = "cleared", "Cleared"
        CONFIRMED = "confirmed", "Confirmed (fraud)"

    LIVE = ("open", "escalated")

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="risk_cases"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    score = models.PositiveIntegerField(default=0)
    players = models.ManyToManyField("players.Player", related_name="risk_cases", blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    payout_hold = models.ForeignKey(
        "payouts.PayoutHold",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The hold on the affiliate's payouts this case placed (score above the limit).",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = "risk case"
        permissions = [("decide_riskcase", "Can decide risk cases (clear, confirm, escalate)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "escalated", "cleared", "confirmed"]),
                name="riskcase_status_valid",
            ),
            models.UniqueConstraint(
                fields=["affiliate"],
                condition=Q(status__in=["open", "escalated"]),
                name="riskcase_one_live_per_affiliate",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["open", "escalated"])
                | Q(decided_by__isnull=False, decided_at__isnull=False) & ~Q(decision_reason=""),
                name="riskcase_decision_recorded",
            ),
        ]
        indexes = [models.Index(fields=["status", "opened_at"], name="riskcase_status_idx")]

    def __str__(self) -> str:
        return f"Risk case {self.pk}"

    @property
    def label(self) -> str:
        """What the ledger, statement and payout screens say about money this case holds."""
        return f"risk case {self.pk}"

    @property
    def reference(self) -> str:
        return f"risk_case:{self.pk}"

    @property
    def is_live(self) -> bool:
        return self.status in self.LIVE


class RiskSignal(models.Model):
    """One rule firing once about one affiliate (and the players involved): its evidence (shared
    values masked, timelines), its score, and the case it joined. Written once per `key` (the
    rule's idempotency key), so a re-delivered event or a re-run night raises nothing new."""

    rule = models.ForeignKey(RiskRule, on_delete=models.PROTECT, related_name="signals")
    key = models.CharField(max_length=200, unique=True)
    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="risk_signals"
    )
    players = models.ManyToManyField("players.Player", related_name="risk_signals", blank=True)
    evidence = models.JSONField(default=dict)
    summary = models.CharField(max_length=300)
    score = models.PositiveSmallIntegerField()
    case = models.ForeignKey(RiskCase, on_delete=models.PROTECT, related_name="signals")
    source_event_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["rule", "created_at"], name="risksignal_rule_idx"),
            models.Index(fields=["affiliate", "created_at"], name="risksignal_affiliate_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.code}: {self.summary}"


class RiskDecision(models.Model):
    """One decision on a case (escalate, clear, confirm) with who, when and why; the audit log
    holds the before/after values, this table the queue's history and the daily counts."""

    class Action(models.TextChoices):
        ESCALATE = "escalate", "Escalated"
        CLEAR = "clear", "Cleared"
        CONFIRM = "confirm", "Confirmed"

    case = models.ForeignKey(RiskCase, on_delete=models.PROTECT, related_name="decisions")
    action = models.CharField(max_length=10, choices=Action.choices)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField()
    effects = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=["escalate", "clear", "confirm"]) & ~Q(reason=""),
                name="riskdecision_valid",
            )
        ]
        indexes = [models.Index(fields=["decided_at"], name="riskdecision_day_idx")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} case {self.case_id}"


class AffiliateIdentityValue(models.Model):
    """An identity-bearing value of the affiliate itself (its registered identity or its payout
    destination), keyed-hashed the same way the operator's systems hash players' values: a
    referred player sharing one is self-referral. Entered by Compliance or imported."""

    class Source(models.TextChoices):
        REGISTRATION = "registration", "Registered identity"
        PAYOUT_DESTINATION = "payout_destination", "Payout destination"

    affiliate = models.ForeignKey(
        "affiliates.Affiliate", on_delete=models.PROTECT, related_name="identity_values"
    )
    kind = models.CharField(
        max_length=20,
        choices=[
            ("device_hash", "Device hash"),
            ("ip_hash", "IP hash"),
            ("email_hash", "E-mail hash"),
            ("payment_fingerprint", "Payment fingerprint"),
        ],
    )
    value = models.CharField(max_length=128)
    source = models.CharField(max_length=20, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["affiliate", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["affiliate", "kind", "value"], name="affiliateidentity_unique"
            ),
            models.CheckConstraint(
                condition=Q(
                    kind__in=["device_hash", "ip_hash", "email_hash", "payment_fingerprint"]
                )
                & ~Q(value=""),
                name="affiliateidentity_kind_valid",
            ),
        ]
        indexes = [models.Index(fields=["kind", "value"], name="affiliateidentity_lookup_idx")]

    def __str__(self) -> str:
        from apps.players.models import mask_identity

        masked = mask_identity(self.value)
        return f"{self.get_kind_display()} {masked} of affiliate #{self.affiliate_id}"
