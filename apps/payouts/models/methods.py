"""Payout methods (where an affiliate is paid, with its threshold) and FX rates."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q

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
