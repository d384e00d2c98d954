"""factory-boy factories for the integrations app."""

import datetime as dt
import hashlib
import json

import factory
from django.utils import timezone

from apps.integrations.accounts import generate_secret
from apps.integrations.inbound import verification
from apps.integrations.models import (
    InboundEvent,
    InboundEventKey,
    Integration,
    IntegrationSecret,
    ReconciliationRun,
)


class IntegrationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Integration
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"crm-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.upper())
    kind = Integration.Kind.CRM
    id_system = "crm"
    is_active = True

    @factory.post_generation
    def signing_secret(obj, create, extracted, **kwargs):
        """Give it one secret (pass signing_secret="whsec_..." to choose it, False for none)."""
        verification.forget(obj.slug)
        if create and extracted is not False:
            IntegrationSecretFactory(integration=obj, secret=extracted or generate_secret())


class IntegrationSecretFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IntegrationSecret

    integration = factory.SubFactory(IntegrationFactory, signing_secret=False)
    secret = factory.LazyFunction(generate_secret)
    expires_at = None


class InboundEventFactory(factory.django.DjangoModelFactory):
    """A stored deposit.created event (status received unless told)."""

    class Meta:
        model = InboundEvent

    integration = factory.SubFactory(IntegrationFactory)
    webhook_id = factory.Sequence(lambda n: f"msg_{n:06d}")
    event_type = "deposit.created"
    occurred_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(minutes=5))
    received_at = factory.LazyFunction(timezone.now)
    payload = factory.LazyAttribute(
        lambda o: {
            "type": o.event_type,
            "timestamp": o.occurred_at.isoformat(),
            "data": {
                "deposit_id": f"dep-{o.webhook_id}",
                "player_id": "P-1",
                "amount": "25.00",
                "currency": "EUR",
            },
        }
    )
    body_hash = factory.LazyAttribute(
        lambda o: hashlib.sha256(json.dumps(o.payload).encode()).hexdigest()
    )
    status = InboundEvent.Status.RECEIVED
    source = InboundEvent.Source.WEBHOOK

    @factory.post_generation
    def idempotency_key(obj, create, extracted, **kwargs):
        """The key row the store writes with every event (InboundEventKey), as it would."""
        if create:
            InboundEventKey.objects.create(
                integration_id=obj.integration_id,
                webhook_id=obj.webhook_id,
                event_id=obj.pk,
                received_at=obj.received_at,
                body_hash=obj.body_hash,
            )


class ReconciliationRunFactory(factory.django.DjangoModelFactory):
    """A finished periodic poll run of the hour before `started_at` (succeeded unless told)."""

    class Meta:
        model = ReconciliationRun

    integration = factory.SubFactory(IntegrationFactory)
    trigger = ReconciliationRun.Trigger.SCHEDULE
    started_at = factory.LazyFunction(timezone.now)
    window_start = factory.LazyAttribute(lambda o: o.started_at - dt.timedelta(hours=1))
    window_end = factory.LazyAttribute(lambda o: o.started_at)
    finished_at = factory.LazyAttribute(lambda o: o.started_at + dt.timedelta(seconds=5))
    status = ReconciliationRun.Status.SUCCEEDED
    error = factory.LazyAttribute(
        lambda o: "GET /events: 503 Service Unavailable" if o.status == "failed" else ""
    )
