from datetime import UTC, datetime

import pytest

from apps.integrations.models import InboundEvent, Integration
from tests.factories import BrandLicenceFactory, ClickFactory, JurisdictionFactory

REGISTERED_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def licensed_de(db):
    """spinpalace is licensed in DE; FR is a known jurisdiction without a licence."""
    JurisdictionFactory(code="FR", name="France")
    return BrandLicenceFactory(
        brand="spinpalace", country=JurisdictionFactory(code="DE", name="Germany")
    )


@pytest.fixture
def click(db):
    return ClickFactory(
        link__creative__campaign__brand="spinpalace",
        sub1="fb",
        sub2="adset-7",
        sub3="",
        sub4="",
        sub5="geo-de",
    )


@pytest.fixture
def parked_event(db):
    """An event from the payments system that is waiting for payments:P-77 to be mapped."""

    def make(system="payments", external_id="P-77"):
        integration, _ = Integration.objects.get_or_create(
            slug="psp",
            defaults={"name": "PSP", "kind": Integration.Kind.PAYMENTS, "id_system": system},
        )
        return InboundEvent.objects.create(
            integration=integration,
            webhook_id=f"msg_{system}_{external_id}",
            event_type="deposit.created",
            occurred_at=REGISTERED_AT,
            payload={"type": "deposit.created", "data": {"player_id": external_id}},
            body_hash="0" * 64,
            status=InboundEvent.Status.PARKED,
            parked_system=system,
            parked_external_id=external_id,
            parked_at=REGISTERED_AT,
        )

    return make
