"""Who may approve: the Finance permission, maker-checker, and the setting that turns it off."""

import pytest
from django.test import override_settings

from apps.integrations.outbound.models import OutboundDelivery
from apps.payouts import services
from apps.payouts.models import Payout
from apps.payouts.services import PayoutTransitionRefused
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_preparer_cannot_approve(pending_payout, finance_maker):
    with pytest.raises(PayoutTransitionRefused, match="maker-checker"):
        services.payout_approve(payout=pending_payout, acting_user=finance_maker)
    assert Payout.objects.get(pk=pending_payout.pk).status == Payout.Status.PENDING_APPROVAL
    assert not OutboundDelivery.objects.exists()


def test_maker_checker_can_be_turned_off(pending_payout, finance_maker, settings):
    with override_settings(AFFILIATEHUB_PAYOUT_MAKER_CHECKER=False):
        approved = services.payout_approve(payout=pending_payout, acting_user=finance_maker)
    assert approved.status == Payout.Status.APPROVED
    assert approved.approved_by == approved.prepared_by == finance_maker


def test_a_retention_user_cannot_approve(pending_payout, retention_user):
    with pytest.raises(PayoutTransitionRefused, match="Finance permission"):
        services.payout_approve(payout=pending_payout, acting_user=retention_user)
    assert Payout.objects.get(pk=pending_payout.pk).status == Payout.Status.PENDING_APPROVAL


def test_staff_without_finance_cannot_approve_or_retry(approved_payout, db):
    plain = UserFactory(username="plain-staff")
    services.payout_mark_failed(reference=approved_payout.reference, reason_code="x", message="y")
    with pytest.raises(PayoutTransitionRefused, match="Finance permission"):
        services.payout_retry(payout=approved_payout, acting_user=plain)


def test_finance_group_holds_the_approve_permission(finance_checker, retention_user):
    assert finance_checker.has_perm("payouts.approve_payout")
    assert not retention_user.has_perm("payouts.approve_payout")


def test_bulk_approval_reports_refusals(pending_payout, finance_maker, finance_checker):
    result = services.payouts_approve(payouts=[pending_payout], acting_user=finance_maker)
    assert result.done == [] and "maker-checker" in result.refused[0][1]
    result = services.payouts_approve(payouts=[pending_payout], acting_user=finance_checker)
    assert [p.pk for p in result.done] == [pending_payout.pk]
    assert OutboundDelivery.objects.filter(topic="payout.request").count() == 1
