"""The sandbox's world: the hub integrations its simulated systems send to, and what those
systems know (brands and their currencies, countries with their weights, trading symbols with
their prices, prop-trading products). The simulator, the demo seed and the poll sources share it.
"""

from __future__ import annotations

from decimal import Decimal

# The hub integrations the simulated systems send to: slug -> (kind, identifier system).
CRM, TRADING, PAYMENTS, COMPLIANCE = (
    "sandbox-crm",
    "sandbox-trading",
    "sandbox-payments",
    "sandbox-compliance",
)
ENDPOINTS: dict[str, tuple[str, str]] = {
    CRM: ("crm", "crm"),
    TRADING: ("trading", "mt5-live"),
    PAYMENTS: ("payments", "payments"),
    COMPLIANCE: ("compliance", "crm"),
}

SEND, DUPLICATE, DROP = "send", "duplicate", "drop"

BRANDS = {"spinpalace": "EUR", "tradeking": "USD"}
COUNTRIES = {
    "DE": 30,
    "GB": 20,
    "AT": 8,
    "SE": 8,
    "CA": 6,
    "CY": 4,
    "ES": 6,
    "AU": 6,
    "FR": 4,
    "NL": 3,
}
SYMBOLS = {
    "EURUSD": Decimal("1.0850"),
    "XAUUSD": Decimal("2315.40"),
    "US30": Decimal("39120.0"),
    "GBPUSD": Decimal("1.2710"),
}
PRODUCTS = [
    ("Challenge 10k", Decimal("99")),
    ("Challenge 50k", Decimal("299")),
    ("Challenge 100k", Decimal("549")),
]
MT5_SERVER = "SandboxBroker-Live"

# Relative weights of the happenings played per step.
ACTIONS: dict[str, float] = {
    "register": 16,
    "deposit": 20,
    "revenue": 16,
    "trade": 20,
    "kyc": 9,
    "purchase": 5,
    "refund": 1.5,
    "chargeback": 2,
    "exclusion_start": 1,
    "exclusion_end": 0.7,
    "ring": 2,  # a member of the fraud ring registers and deposits the minimum once
}

# The fraud ring the sandbox plays (issue 17): players of one tracking link (one affiliate) who
# share a device, each depositing the minimum once and never again. The risk queue opens a case
# for it as soon as two have registered; it stops growing at RING_SIZE members.
RING_SIZE = 12
RING_DEPOSIT = {"EUR": Decimal("20.00"), "USD": Decimal("20.00")}
