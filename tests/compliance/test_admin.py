import pytest
from django.urls import reverse

from apps.compliance.models import KycRecord, SelfExclusion
from apps.core.models import AuditLog
from apps.core.roles import COMPLIANCE
from tests.factories import PlayerFactory, SelfExclusionFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_client(client):
    client.force_login(UserFactory(username="officer", roles=[COMPLIANCE]))
    return client


def test_adding_kyc_in_admin_goes_through_the_service(compliance_client):
    player = PlayerFactory()
    response = compliance_client.post(
        reverse("admin:compliance_kycrecord_add"),
        {
            "player": player.pk,
            "status": "passed",
            "updated_at_0": "2026-11-02",
            "updated_at_1": "10:00:00",
        },
    )
    assert response.status_code == 302, response.content
    record = KycRecord.objects.get()
    assert (record.status, record.is_current, record.source) == ("passed", True, "admin:officer")
    assert AuditLog.objects.filter(action="kyc.updated", actor__username="officer").exists()


def test_end_self_exclusion_action(compliance_client):
    exclusion = SelfExclusionFactory(starts_at="2026-01-01T00:00:00Z")
    response = compliance_client.post(
        reverse("admin:compliance_selfexclusion_changelist"),
        {"action": "end_now", "_selected_action": [exclusion.pk]},
    )
    assert response.status_code == 302
    exclusion.refresh_from_db()
    assert exclusion.ended_at is not None
    assert SelfExclusion.objects.filter(ended_at__isnull=True).count() == 0


def test_in_force_filter_and_changelists_load(compliance_client):
    SelfExclusionFactory(starts_at="2026-01-01T00:00:00Z")
    for name in ("selfexclusion", "kycrecord", "brandlicence", "jurisdiction"):
        assert (
            compliance_client.get(reverse(f"admin:compliance_{name}_changelist")).status_code == 200
        )
    response = compliance_client.get(
        reverse("admin:compliance_selfexclusion_changelist") + "?in_force=yes"
    )
    assert response.context["cl"].result_count == 1
