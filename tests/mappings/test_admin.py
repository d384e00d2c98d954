import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from apps.core.models import AuditLog
from apps.core.roles import INTEGRATIONS
from apps.mappings.models import IdentifierMapping
from tests.factories import IdentifierMappingFactory, PlayerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def integrations_client(client):
    client.force_login(UserFactory(roles=[INTEGRATIONS]))
    return client


def test_change_form_shows_identity_fields_read_only_and_post_changes_nothing(integrations_client):
    mapping = IdentifierMappingFactory(system="crm", external_id="C-1")
    other = PlayerFactory()
    url = reverse("admin:mappings_identifiermapping_change", args=[mapping.pk])
    page = integrations_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    for field in ("player", "system", "external_id"):
        assert f'name="{field}"' not in html
    integrations_client.post(url, {"player": other.pk, "system": "payments", "external_id": "X"})
    mapping.refresh_from_db()
    assert (mapping.player_id, mapping.system, mapping.external_id) != (other.pk, "payments", "X")
    assert (mapping.system, mapping.external_id) == ("crm", "C-1")


def test_add_goes_through_the_service_and_refuses_duplicates(integrations_client):
    player = PlayerFactory()
    url = reverse("admin:mappings_identifiermapping_add")
    response = integrations_client.post(
        url, {"player": player.pk, "system": "payments", "external_id": "P-1"}
    )
    assert response.status_code == 302
    mapping = IdentifierMapping.objects.get(system="payments")
    assert mapping.source.startswith("admin:")
    assert AuditLog.objects.filter(action="mapping.created", object_id=str(mapping.pk)).exists()
    response = integrations_client.post(
        url, {"player": PlayerFactory().pk, "system": "payments", "external_id": "P-1"}
    )
    assert response.status_code == 200
    assert "already mapped" in response.content.decode()
    assert IdentifierMapping.objects.filter(system="payments").count() == 1


def test_retire_action_asks_for_a_reason_then_retires(integrations_client):
    mapping = IdentifierMappingFactory()
    url = reverse("admin:mappings_identifiermapping_changelist")
    page = integrations_client.post(
        url, {"action": "retire_mappings", "_selected_action": [mapping.pk]}
    )
    assert page.status_code == 200 and 'name="reason"' in page.content.decode()
    mapping.refresh_from_db()
    assert mapping.retired_at is None
    response = integrations_client.post(
        url,
        {
            "action": "retire_mappings",
            "_selected_action": [mapping.pk],
            "apply": "1",
            "reason": "duplicate CRM id",
        },
    )
    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.retired_reason == "duplicate CRM id" and mapping.retired_at is not None
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Retired 1 mapping(s)."]


def test_mappings_cannot_be_deleted(admin_client):
    mapping = IdentifierMappingFactory()
    response = admin_client.get(
        reverse("admin:mappings_identifiermapping_delete", args=[mapping.pk])
    )
    assert response.status_code == 403
