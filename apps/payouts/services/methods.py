"""Adding a payout method directly (the bootstrap path; people change destinations through
apps.payouts.method_changes)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from apps.affiliates.models import Affiliate
from apps.core.audit import audit_change, snapshot
from apps.payouts.models import (
    PayoutMethod,
)
from apps.payouts.services.common import (
    PayoutError,
)


def payout_method_create(
    *,
    affiliate: Affiliate,
    kind: str,
    currency: str,
    threshold: Decimal | None = None,
    details: dict | None = None,
    beneficiary_name: str = "",
    beneficiary_address: str = "",
    wallet_address: str = "",
    is_default: bool = True,
    acting_user=None,
) -> PayoutMethod:
    """Add a payout method directly; as the default it replaces the affiliate's previous default.

    Bootstrap path for system setup (the sandbox gateway, imports) only: people change payout
    destinations through a second-person-approved request (apps.payouts.method_changes)."""
    if kind not in PayoutMethod.Kind.values:
        raise PayoutError(f"Unknown payout method {kind!r}.")
    if kind == PayoutMethod.Kind.USDT and not (
        beneficiary_name.strip() and beneficiary_address.strip() and wallet_address.strip()
    ):
        raise PayoutError(
            "USDT payouts need the beneficiary's name, address and wallet address (travel rule)."
        )
    if threshold is not None and threshold < 0:
        raise PayoutError("A threshold cannot be negative.")
    with transaction.atomic():
        Affiliate.objects.select_for_update().get(pk=affiliate.pk)  # one default at a time
        if is_default:
            for previous in PayoutMethod.objects.filter(
                affiliate=affiliate, is_default=True
            ).order_by("pk"):
                before = snapshot(previous)
                previous.is_default = False
                previous.save(update_fields=["is_default", "updated_at"])
                audit_change(instance=previous, before=before, actor=acting_user)
        method = PayoutMethod.objects.create(
            affiliate=affiliate,
            kind=kind,
            currency=currency.upper(),
            threshold=threshold,
            details=details or {},
            beneficiary_name=beneficiary_name.strip(),
            beneficiary_address=beneficiary_address.strip(),
            wallet_address=wallet_address.strip(),
            is_default=is_default,
        )
        audit_change(instance=method, before=None, actor=acting_user)
    return method
