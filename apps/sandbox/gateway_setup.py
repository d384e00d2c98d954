"""Wire the sandbox payment gateway into a running AffiliateHub (idempotent).

- the payments integration `sandbox-payments` (the gateway's results arrive through it) and the
  secret the gateway signs with (kept in the sandbox, as a real gateway keeps its copy);
- the gateway OutboundEndpoint `sandbox-gateway` -> {base_url}/sandbox/gateway;
- the gateway's configuration (where it reports back, failure rate);
- a default payout method for demo affiliates that have none, so payout runs have somewhere
  to pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from apps.affiliates.models import Affiliate
from apps.integrations.accounts import IntegrationError, integration_create
from apps.integrations.models import Integration, OutboundEndpoint
from apps.integrations.outbound import public as outbound
from apps.payouts.models import PayoutMethod
from apps.payouts.services import payout_method_create
from apps.sandbox.gateway_models import SandboxGatewayConfig
from apps.sandbox.services import sandbox_endpoint_refresh

INTEGRATION_SLUG = "sandbox-payments"
ENDPOINT_NAME = "sandbox-gateway"


@dataclass(frozen=True)
class GatewaySetup:
    endpoint: OutboundEndpoint
    integration: Integration
    methods_created: int


def sandbox_gateway_setup(*, base_url: str, failure_rate: Decimal | None = None) -> GatewaySetup:
    base_url = base_url.rstrip("/")
    plaintext = None
    if not Integration.objects.filter(slug=INTEGRATION_SLUG).exists():
        try:
            _, plaintext = integration_create(
                slug=INTEGRATION_SLUG,
                kind="payments",
                id_system="payments",
                name="Sandbox payment gateway",
            )
        except IntegrationError:
            plaintext = (
                None  # created concurrently (e.g. by the traffic simulator): adopt its secret
            )
    sandbox_endpoint_refresh(slug=INTEGRATION_SLUG, kind="payments", secret=plaintext)
    integration = Integration.objects.get(slug=INTEGRATION_SLUG)

    url = f"{base_url}/sandbox/gateway"
    endpoint = OutboundEndpoint.objects.filter(name=ENDPOINT_NAME).first()
    if endpoint is None:
        endpoint = outbound.endpoint_create(name=ENDPOINT_NAME, kind="gateway", url=url)
    elif endpoint.url != url:
        endpoint = outbound.endpoint_update(endpoint=endpoint, url=url)

    with transaction.atomic():
        config, _ = SandboxGatewayConfig.objects.select_for_update().get_or_create(pk=1)
        config.hub_url, config.integration_slug = base_url, INTEGRATION_SLUG
        if failure_rate is not None:
            config.failure_rate = failure_rate
        config.save()

    created = 0
    without_method = (
        Affiliate.objects.filter(status=Affiliate.Status.ACTIVE)
        .exclude(pk__in=PayoutMethod.objects.filter(is_active=True).values("affiliate_id"))
        .order_by("pk")
    )
    for affiliate in without_method:
        payout_method_create(
            affiliate=affiliate,
            kind=PayoutMethod.Kind.SKRILL,
            currency=affiliate.payout_currency,
            details={"email": affiliate.email},
        )
        created += 1
    return GatewaySetup(endpoint=endpoint, integration=integration, methods_created=created)
