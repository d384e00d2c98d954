import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.affiliates.models import Affiliate, Creative, TrackingLink
from apps.core.models import AuditLog
from apps.core.roles import COMPLIANCE, RETENTION
from tests.factories import AffiliateFactory, CreativeFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def compliance_client(client):
    user = UserFactory(username="compliance-officer", roles=[COMPLIANCE])
    client.force_login(user)
    client.user = user
    return client


def test_compliance_approves_creatives_through_the_admin_action(compliance_client):
    pending = CreativeFactory.create_batch(2)
    response = compliance_client.post(
        reverse("admin:affiliates_creative_changelist"),
        {"action": "approve_creatives", "_selected_action": [c.pk for c in pending]},
    )
    assert response.status_code == 302
    assert (
        list(
            Creative.objects.filter(pk__in=[c.pk for c in pending]).values_list(
                "status", "reviewed_by"
            )
        )
        == [("approved", compliance_client.user.pk)] * 2
    )
    assert (
        AuditLog.objects.filter(action="creative.approved", actor=compliance_client.user).count()
        == 2
    )
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages == ["Approved 2 creatives."]


def test_reject_action_reports_refusals(compliance_client):
    rejected = CreativeFactory(status=Creative.Status.REJECTED, reviewed_at="2026-11-01T00:00:00Z")
    pending = CreativeFactory()
    response = compliance_client.post(
        reverse("admin:affiliates_creative_changelist"),
        {"action": "reject_creatives", "_selected_action": [rejected.pk, pending.pk]},
    )
    pending.refresh_from_db()
    assert pending.status == "rejected"
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert messages[0] == "Rejected 1 creatives."
    assert "already rejected" in messages[1]


def test_compliance_suspends_and_activates_affiliates(compliance_client):
    affiliate = AffiliateFactory()
    url = reverse("admin:affiliates_affiliate_changelist")
    compliance_client.post(
        url, {"action": "suspend_affiliates", "_selected_action": [affiliate.pk]}
    )
    affiliate.refresh_from_db()
    assert affiliate.status == Affiliate.Status.SUSPENDED
    compliance_client.post(
        url, {"action": "activate_affiliates", "_selected_action": [affiliate.pk]}
    )
    affiliate.refresh_from_db()
    assert affiliate.status == Affiliate.Status.ACTIVE
    assert (
        AuditLog.objects.filter(
            object_id=str(affiliate.pk), action__in=["affiliate.suspended", "affiliate.activated"]
        ).count()
        == 2
    )


def test_retention_cannot_run_affiliate_actions(client):
    client.force_login(UserFactory(roles=[RETENTION]))
    affiliate = AffiliateFactory()
    response = client.post(
        reverse("admin:affiliates_affiliate_changelist"),
        {"action": "suspend_affiliates", "_selected_action": [affiliate.pk]},
    )
    affiliate.refresh_from_db()
    assert affiliate.status == "active"
    assert response.status_code in (200, 403)
    assert (
        client.get(reverse("admin:affiliates_affiliate_change", args=[affiliate.pk])).context[
            "has_change_permission"
        ]
        is False
    )


def test_admin_link_add_refuses_pending_creative(admin_client):
    creative = CreativeFactory()
    response = admin_client.post(
        reverse("admin:affiliates_trackinglink_add"),
        {
            "affiliate": creative.campaign.affiliate_id,
            "campaign": creative.campaign_id,
            "creative": creative.pk,
            "landing_url": "https://brand.example/",
        },
    )
    assert response.status_code == 200
    assert "links need an approved creative" in response.content.decode()
    assert not TrackingLink.objects.exists()


def test_admin_link_add_goes_through_service(admin_client):
    creative = CreativeFactory(approved=True)
    response = admin_client.post(
        reverse("admin:affiliates_trackinglink_add"),
        {
            "affiliate": creative.campaign.affiliate_id,
            "campaign": creative.campaign_id,
            "creative": creative.pk,
            "landing_url": "https://brand.example/",
        },
    )
    assert response.status_code == 302
    link = TrackingLink.objects.get()
    assert len(link.code) == 8
    assert AuditLog.objects.filter(action="tracking_link.created", object_id=str(link.pk)).exists()


@pytest.mark.parametrize("model", ["affiliate", "campaign", "creative", "trackinglink", "click"])
def test_changelists_query_count_does_not_grow_with_rows(admin_client, model):
    from tests.factories import ClickFactory

    url = reverse(f"admin:affiliates_{model}_changelist")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url).status_code == 200
        return len(ctx.captured_queries)

    ClickFactory(link__affiliate__parent=AffiliateFactory())
    few = queries()
    for _ in range(4):
        ClickFactory(link__creative__campaign__affiliate__parent=AffiliateFactory())
    assert queries() == few
