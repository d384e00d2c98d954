"""Database side of the sandbox: its integrations and secrets, what it knows, what it sent."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.affiliates.models import Affiliate, Creative, TrackingLink
from apps.core.audit import audit_change, stored_values
from apps.integrations.accounts import IntegrationError, integration_create
from apps.integrations.models import Integration, IntegrationSecret
from apps.mappings.models import IdentifierMapping
from apps.players.models import Player
from apps.risk.models import RiskRule
from apps.sandbox.models import SandboxEndpoint, SandboxSentEvent
from apps.sandbox.simulator import Outgoing, SimPlayer
from apps.sandbox.world import ENDPOINTS

logger = logging.getLogger(__name__)


def sandbox_endpoints_ensure() -> dict[str, str]:
    """Make sure every simulated system has its hub integration and a secret to sign with.

    Idempotent and safe beside other set-up code (e.g. a payment-gateway sandbox creating
    `sandbox-payments` itself): an existing integration is reused and its newest usable secret
    adopted. Returns slug -> secret.
    """
    secrets: dict[str, str] = {}
    for slug, (kind, id_system) in ENDPOINTS.items():
        plaintext = None
        if not Integration.objects.filter(slug=slug).exists():
            try:
                _, plaintext = integration_create(
                    slug=slug, kind=kind, id_system=id_system, name=f"Sandbox {kind} ({slug})"
                )
            except IntegrationError:
                plaintext = None  # created concurrently by someone else: adopt theirs below
        secrets[slug] = sandbox_endpoint_refresh(slug=slug, kind=kind, secret=plaintext)
    return secrets


def sandbox_endpoint_refresh(
    *, slug: str, kind: str | None = None, secret: str | None = None
) -> str:
    """Store (or re-read from the hub) the secret the simulated system `slug` signs with."""
    if secret is None:
        stored = SandboxEndpoint.objects.filter(slug=slug).values_list("secret", flat=True).first()
        usable = IntegrationSecret.objects.usable().filter(integration__slug=slug)
        if stored and usable.filter(secret=stored).exists():
            return stored
        # Rotated (or never seen): take the hub's newest usable secret, as an operator would
        # paste it into the source system.
        secret = usable.order_by("-created_at", "-id").values_list("secret", flat=True).first()
        if secret is None:
            raise IntegrationError(f"Integration {slug!r} has no usable signing secret.")
    defaults = {"secret": secret, "updated_at": timezone.now()}
    if kind:
        defaults["kind"] = kind
    SandboxEndpoint.objects.update_or_create(slug=slug, defaults=defaults)
    return secret


def sandbox_quiet(*, slug: str, minutes: float) -> SandboxEndpoint:
    """Make the simulated system `slug` stop sending webhooks for `minutes` (0: start again now).

    Its events are still produced and recorded as dropped, so its polling endpoint keeps
    answering with them (a sender whose webhooks stopped, not a system that vanished)."""
    if minutes < 0:
        raise ValueError("Minutes cannot be negative.")
    endpoint = SandboxEndpoint.objects.filter(slug=slug).first()
    if endpoint is None:
        raise LookupError(
            f"No sandbox system {slug!r}; choose one of {', '.join(sorted(ENDPOINTS))}."
        )
    endpoint.quiet_until = timezone.now() + dt.timedelta(minutes=minutes) if minutes else None
    endpoint.save(update_fields=["quiet_until"])
    return endpoint


def quiet_slugs() -> frozenset[str]:
    """The simulated systems told to be quiet right now (one small query)."""
    return frozenset(
        SandboxEndpoint.objects.filter(quiet_until__gt=timezone.now()).values_list(
            "slug", flat=True
        )
    )


def clickable_link_codes(*, limit: int = 200) -> list[str]:
    """Codes of tracking links that redirect today (active link and affiliate, approved
    creative)."""
    return list(
        TrackingLink.objects.filter(
            is_active=True,
            affiliate__status=Affiliate.Status.ACTIVE,
            creative__status=Creative.Status.APPROVED,
        )
        .order_by("id")
        .values_list("code", flat=True)[:limit]
    )


def known_players(*, limit: int = 300) -> list[SimPlayer]:
    """Players the hub already has (demo data, earlier runs), as the simulated systems know them.

    Two queries: the players with a CRM id, then their payments and MT5 ids.
    """
    crm = dict(
        IdentifierMapping.objects.filter(system="crm", retired_at__isnull=True)
        .order_by("-id")
        .values_list("player_id", "external_id")[:limit]
    )
    others: dict[int, dict[str, str]] = defaultdict(dict)
    for player_id, system, external_id in IdentifierMapping.objects.filter(
        player_id__in=crm, system__in=["payments", "mt5-live"], retired_at__isnull=True
    ).values_list("player_id", "system", "external_id"):
        others[player_id][system] = external_id
    facts = Player.objects.filter(pk__in=crm).values_list("pk", "brand", "country")
    return [
        SimPlayer(
            crm_id=crm[pk],
            brand=brand,
            country=country,
            payments_id=others[pk].get("payments"),
            mt5_login=others[pk].get("mt5-live"),
        )
        for pk, brand, country in facts
    ]


def sent_events_record(*, results: Iterable[tuple[Outgoing, int, int | None]]) -> None:
    """Record events with the number of deliveries made and the hub's last answer.

    An event already recorded (the same webhook id delivered again) adds its deliveries.
    """
    with transaction.atomic():
        for event, deliveries, status in results:
            row, created = SandboxSentEvent.objects.get_or_create(
                integration_slug=event.slug,
                webhook_id=event.webhook_id,
                defaults={
                    "event_type": event.event_type,
                    "payload": event.envelope,
                    "occurred_at": event.occurred_at,
                    "dropped": deliveries == 0,
                    "deliveries": deliveries,
                    "last_status": status,
                },
            )
            if not created and deliveries:
                SandboxSentEvent.objects.filter(pk=row.pk).update(
                    deliveries=F("deliveries") + deliveries, last_status=status, dropped=False
                )


def sandbox_velocity_rule_tune(*, rate: float) -> RiskRule | None:
    """The sandbox sends a steady `rate` events/s spread over a handful of affiliates: every
    affiliate would have "far more first deposits than its baseline" from the first minute, and
    the velocity rule would put every affiliate under review. Its `min_count` is raised above
    what the sandbox sends in an hour (audited), so the cases `make run` shows are the fraud
    ring's (apps.sandbox.simulator). Lower values set by someone are raised; higher are kept."""
    floor = int(rate * 3600) + 1
    with transaction.atomic():
        rule = RiskRule.objects.select_for_update().filter(code="velocity").first()
        if rule is None or int((rule.params or {}).get("min_count", 0)) >= floor:
            return rule
        before = stored_values(rule)
        rule.params = {**(rule.params or {}), "min_count": floor}
        rule.save(update_fields=["params", "updated_at"])
        audit_change(
            instance=rule,
            before=before,
            actor_label="sandbox",
            reason=(
                f"Sandbox traffic at {rate:g} events/s would trip the velocity rule for every "
                "affiliate."
            ),
        )
    return rule
