"""factory-boy factories for payouts, and approved statements with their ledger lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from apps.commissions.models import CommissionEntry, Statement
from apps.integrations.outbound.models import OutboundEndpoint
from apps.payouts.models import FxRate, PayoutMethod
from tests.factories import AffiliateFactory


class PayoutMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PayoutMethod

    affiliate = factory.SubFactory(AffiliateFactory)
    kind = PayoutMethod.Kind.SKRILL
    currency = "EUR"
    details = factory.LazyAttribute(lambda o: {"email": f"pay-{o.affiliate.pk}@wallet.example"})
    is_default = True

    class Params:
        usdt = factory.Trait(
            kind=PayoutMethod.Kind.USDT,
            currency="USDT",
            beneficiary_name="Ada Lovelace",
            beneficiary_address="1 Analytical Way, London",
            wallet_address="TQ7x9zH1vLkP8yF2mN3bV4cX5zA6sD7fG8",
            details={"network": "TRC20"},
        )
        wire = factory.Trait(
            kind=PayoutMethod.Kind.BANK_WIRE,
            details={"iban": "DE89370400440532013000", "bic": "COBADEFFXXX"},
        )


class FxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FxRate

    base = "EUR"
    quote = "USD"
    rate = Decimal("1.0850")
    source = "ECB"
    as_of = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))


class GatewayEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboundEndpoint
        django_get_or_create = ("name",)

    name = "payment-gateway"
    kind = OutboundEndpoint.Kind.GATEWAY
    url = "http://127.0.0.1:9/gateway"


_period_counter = iter(range(10_000))


def approved_statement(
    *,
    affiliate,
    total: Decimal | str,
    currency: str = "EUR",
    period: dt.date | None = None,
    approved_at: dt.datetime | None = None,
    lines: int = 2,
) -> Statement:
    """An approved statement with `lines` approved ledger rows summing to `total`."""
    total = Decimal(str(total))
    if period is None:
        n = next(_period_counter)
        period = dt.date(2020 + n // 12, n % 12 + 1, 1)
    approved_at = approved_at or timezone.now() - dt.timedelta(days=1)
    statement = Statement.objects.create(
        period=period,
        affiliate=affiliate,
        currency=currency,
        status=Statement.Status.APPROVED,
        total=total,
        approved_at=approved_at,
    )
    share = (total / lines).quantize(Decimal("0.00000001"))
    amounts = [share] * (lines - 1) + [total - share * (lines - 1)]
    for index, amount in enumerate(amounts):
        CommissionEntry.objects.create(
            kind=CommissionEntry.Kind.ADJUSTMENT,
            affiliate=affiliate,
            idempotency_key=f"test:{statement.pk}:{index}",
            period=period,
            occurred_at=approved_at,
            amount=amount,
            currency=currency,
            status=CommissionEntry.Status.APPROVED,
            statement_period=period,
            status_changed_at=approved_at,
        )
    return statement


def restore_roles() -> None:
    """Re-create the staff groups: transactional tests flush what the data migrations made."""
    from django.apps import apps

    from apps.core.roles import sync_roles
    from apps.payouts.roles import merged_roles

    sync_roles(apps, merged_roles())
