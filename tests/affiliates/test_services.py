import hashlib
import hmac

import pytest
from django.conf import settings
from django.db import IntegrityError

from apps.affiliates.models import Affiliate, Creative, TrackingLink
from apps.affiliates.services import (
    LINK_CODE_ALPHABET,
    LINK_CODE_LENGTH,
    AffiliateDomainError,
    AffiliateStateError,
    CreativeStateError,
    LinkNotClickable,
    TrackingLinkRefused,
    affiliate_activate,
    affiliate_create,
    affiliate_suspend,
    affiliate_update,
    click_record,
    creative_approve,
    creative_create,
    creative_reject,
    hash_ip,
    tracking_link_create,
)
from apps.core.models import AuditLog
from tests.factories import (
    AffiliateFactory,
    CampaignFactory,
    CreativeFactory,
    TrackingLinkFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def audit_rows(action, obj):
    return AuditLog.objects.filter(
        action=action, object_type=obj._meta.label_lower, object_id=str(obj.pk)
    )


def test_affiliate_create_normalises_and_audits():
    parent = AffiliateFactory()
    affiliate = affiliate_create(
        name="Sub", email=" Sub@Partners.Example ", payout_currency="usd", parent=parent
    )
    assert (affiliate.email, affiliate.payout_currency, affiliate.parent_id) == (
        "sub@partners.example",
        "USD",
        parent.pk,
    )
    assert affiliate.status == Affiliate.Status.ACTIVE
    assert audit_rows("affiliate.created", affiliate).count() == 1


def test_suspend_and_activate_are_audited_and_guarded():
    user = UserFactory()
    affiliate = AffiliateFactory()
    affiliate_suspend(affiliate=affiliate, acting_user=user, reason="fraud review")
    affiliate.refresh_from_db()
    assert affiliate.status == "suspended"
    row = audit_rows("affiliate.suspended", affiliate).get()
    assert (row.actor, row.before, row.after, row.reason) == (
        user,
        {"status": "active"},
        {"status": "suspended"},
        "fraud review",
    )
    with pytest.raises(AffiliateStateError, match="already suspended"):
        affiliate_suspend(affiliate=affiliate)
    affiliate_activate(affiliate=affiliate, acting_user=user)
    affiliate.refresh_from_db()
    assert affiliate.status == "active"
    assert audit_rows("affiliate.activated", affiliate).count() == 1


def test_affiliate_cannot_become_its_own_ancestor():
    top = AffiliateFactory()
    sub = AffiliateFactory(parent=top)
    with pytest.raises(AffiliateDomainError, match="own parent or ancestor"):
        affiliate_update(
            affiliate=top, name=top.name, email=top.email, payout_currency="EUR", parent=sub
        )
    with pytest.raises(IntegrityError):
        Affiliate.objects.filter(pk=top.pk).update(parent=top)


def test_creative_starts_pending_and_review_is_audited_with_reviewer():
    reviewer = UserFactory()
    creative = creative_create(campaign=CampaignFactory(), name="Welcome banner")
    assert creative.status == Creative.Status.PENDING
    creative_approve(creative=creative, acting_user=reviewer, note="ok")
    creative.refresh_from_db()
    assert (creative.status, creative.reviewed_by, creative.review_note) == (
        "approved",
        reviewer,
        "ok",
    )
    assert creative.reviewed_at is not None
    assert audit_rows("creative.approved", creative).get().actor == reviewer
    with pytest.raises(CreativeStateError):
        creative_approve(creative=creative, acting_user=reviewer)
    creative_reject(creative=creative, acting_user=reviewer, reason="misleading bonus claim")
    creative.refresh_from_db()
    assert creative.status == "rejected"
    assert audit_rows("creative.rejected", creative).get().reason == "misleading bonus claim"


def test_tracking_link_create_for_approved_creative_and_active_affiliate():
    creative = CreativeFactory(approved=True)
    campaign = creative.campaign
    link = tracking_link_create(
        affiliate=campaign.affiliate,
        campaign=campaign,
        creative=creative,
        landing_url="https://brand.example/?a=1",
    )
    assert len(link.code) == LINK_CODE_LENGTH and set(link.code) <= set(LINK_CODE_ALPHABET)
    assert (link.affiliate, link.campaign, link.creative, link.is_active) == (
        campaign.affiliate,
        campaign,
        creative,
        True,
    )
    assert audit_rows("tracking_link.created", link).count() == 1


def test_tracking_link_refused_for_pending_creative():
    creative = CreativeFactory()
    campaign = creative.campaign
    with pytest.raises(TrackingLinkRefused, match="approved creative"):
        tracking_link_create(
            affiliate=campaign.affiliate,
            campaign=campaign,
            creative=creative,
            landing_url="https://brand.example/",
        )
    assert not TrackingLink.objects.exists()


def test_tracking_link_refused_for_rejected_creative():
    creative = CreativeFactory(status=Creative.Status.REJECTED, reviewed_at="2026-11-01T00:00:00Z")
    with pytest.raises(TrackingLinkRefused):
        tracking_link_create(
            affiliate=creative.campaign.affiliate,
            campaign=creative.campaign,
            creative=creative,
            landing_url="https://brand.example/",
        )


def test_tracking_link_refused_for_suspended_affiliate():
    creative = CreativeFactory(approved=True)
    affiliate = creative.campaign.affiliate
    affiliate_suspend(affiliate=affiliate)
    with pytest.raises(TrackingLinkRefused, match="suspended"):
        tracking_link_create(
            affiliate=affiliate,
            campaign=creative.campaign,
            creative=creative,
            landing_url="https://brand.example/",
        )
    assert not TrackingLink.objects.exists()


def test_tracking_link_refused_for_foreign_campaign_or_bad_url():
    creative = CreativeFactory(approved=True)
    other = AffiliateFactory()
    with pytest.raises(TrackingLinkRefused, match="does not belong"):
        tracking_link_create(
            affiliate=other,
            campaign=creative.campaign,
            creative=creative,
            landing_url="https://brand.example/",
        )
    with pytest.raises(TrackingLinkRefused, match="http"):
        tracking_link_create(
            affiliate=creative.campaign.affiliate,
            campaign=creative.campaign,
            creative=creative,
            landing_url="javascript:alert(1)",
        )


def test_click_record_hashes_ip_truncates_subs_and_makes_unique_tokens():
    link = TrackingLinkFactory()
    click = click_record(
        link=link, sub_ids={"sub1": "x" * 1000, "sub5": "five"}, ip="203.0.113.9", user_agent="UA"
    )
    expected = hmac.new(
        settings.AFFILIATEHUB_CLICK_IP_SALT.encode(), b"203.0.113.9", hashlib.sha256
    ).hexdigest()
    assert click.ip_hash == expected == hash_ip("203.0.113.9")
    assert "203.0.113.9" not in str(click.__dict__)
    assert (len(click.sub1), click.sub2, click.sub5) == (255, "", "five")
    assert len(click.token) >= 32
    other = click_record(link=link)
    assert other.token != click.token and other.ip_hash == ""


def test_click_record_refuses_unclickable_link():
    link = TrackingLinkFactory(is_active=False)
    with pytest.raises(LinkNotClickable):
        click_record(link=link)
