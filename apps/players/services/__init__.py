"""Recording player facts: deposits, revenue reports, trades, purchases and chargebacks.

The inbound pipeline (apps.players.handlers, composed with resolution in
apps.mappings.handlers) calls these once per event, at least once per delivery, in any order. So
every service:

- is idempotent on the fact's natural key through the database's unique constraint (`INSERT ...
  ON CONFLICT DO NOTHING`, reading the stored row on conflict; never check-then-insert);
- runs in one transaction (a savepoint when the caller, e.g. the event processor, already has
  one open);
- tolerates out-of-order arrival: flags the hub derives (first deposit, first purchase, current
  revenue report) are decided from the history it holds, under a lock on the player row, and
  move when an earlier fact arrives late;
- returns whether it created (or changed) something, so reactions such as commissions act once.

Creating a fact writes no audit row: the inbound event that recorded it (`source_event_id`) is
its record. Changes to rows already stored (a moved first-deposit flag, a restated report, a
refund) are audited.

One module per fact (`deposits`, `revenue`, `trades`, `purchases`, `chargebacks`) and the input
checks they share (`common`); callers import from this package.
"""

from apps.players.services.chargebacks import (
    ChargebackResult,
    chargeback_record,
)
from apps.players.services.common import (
    FactError,
    PurchaseNotFound,
)
from apps.players.services.deposits import (
    DepositResult,
    deposit_record,
)
from apps.players.services.identities import (
    IDENTITY_KINDS,
    player_identity_values_record,
)
from apps.players.services.purchases import (
    PurchaseRefundResult,
    PurchaseResult,
    purchase_record,
    purchase_refund,
)
from apps.players.services.revenue import (
    RevenueReportResult,
    revenue_report_record,
)
from apps.players.services.trades import (
    TradeResult,
    trade_record,
)

__all__ = [
    "IDENTITY_KINDS",
    "ChargebackResult",
    "DepositResult",
    "FactError",
    "PurchaseNotFound",
    "PurchaseRefundResult",
    "PurchaseResult",
    "RevenueReportResult",
    "TradeResult",
    "chargeback_record",
    "deposit_record",
    "player_identity_values_record",
    "purchase_record",
    "purchase_refund",
    "revenue_report_record",
    "trade_record",
]
