"""The second factor (TOTP): who must have one, what a session without it may open, and the
approvals it guards, through the admin and at the actions themselves."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice

from apps.accounts.second_factor import APPROVAL_PERMISSIONS
from apps.payouts.models import Payout
from tests.factories import UserFactory

from .helpers import (
    admin_request,
    confirmed_device,
    current_code,
    messages_of,
    model_admin,
    wrong_code,
)

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")
ENROL = reverse("accounts:otp_enrol")
VERIFY = reverse("accounts:otp_verify")


def approve_url(payout):
    return reverse("admin:payouts_payout_approve", args=[payout.pk])


def verify(client, device):
    return client.post(VERIFY, {"code": current_code(device), "next": INDEX})


# ---- who is asked
# ---------------------------------------------------------------------------------


def test_a_finance_approver_without_a_device_is_sent_to_enrolment(
    client, otp_required, finance_checker
):
    client.force_login(finance_checker)
    response = client.get(INDEX)
    assert response.status_code == 302 and response.url == f"{ENROL}?next=%2Fadmin%2F"


def test_a_superuser_without_a_device_is_sent_to_enrolment(client, otp_required):
    client.force_login(UserFactory(username="root", is_superuser=True))
    assert client.get(INDEX).url.startswith(ENROL)


def test_staff_without_approval_permissions_are_not_forced(client, otp_required, retention_user):
    client.force_login(retention_user)
    assert client.get(INDEX).status_code == 200
    assert client.get(reverse("admin:retention_retentionplayer_changelist")).status_code == 200


def test_all_staff_are_asked_when_the_setting_says_all(client, otp_required, retention_user):
    otp_required.AFFILIATEHUB_OTP_REQUIRED_FOR = "all"
    client.force_login(retention_user)
    assert client.get(INDEX).url.startswith(ENROL)


def test_nobody_is_asked_when_the_setting_says_none(client, otp_required, finance_checker):
    otp_required.AFFILIATEHUB_OTP_REQUIRED_FOR = "none"
    client.force_login(finance_checker)
    assert client.get(INDEX).status_code == 200


def test_an_exempt_username_is_not_asked(client, otp_required):
    otp_required.AFFILIATEHUB_OTP_EXEMPT_USERNAMES = ["admin"]
    client.force_login(UserFactory(username="admin", is_superuser=True))
    assert client.get(INDEX).status_code == 200


def test_an_approver_with_a_device_is_asked_for_the_code_then_let_in(
    client, otp_required, finance_checker
):
    device = confirmed_device(finance_checker)
    client.force_login(finance_checker)
    assert client.get(INDEX).url == f"{VERIFY}?next=%2Fadmin%2F"

    wrong = client.post(VERIFY, {"code": wrong_code(device)})
    assert "That code is not right" in wrong.content.decode()
    assert client.get(INDEX).status_code == 302
    # django-otp throttles after a wrong code (1 s, doubling): even the right one waits.
    assert "Too many wrong codes" in verify(client, device).content.decode()
    device.refresh_from_db()
    device.throttle_reset()

    response = verify(client, device)
    assert response.status_code == 302 and response.url == INDEX
    assert client.get(INDEX).status_code == 200


def test_until_verified_only_the_second_factor_pages_and_sign_out_open(
    client, otp_required, finance_checker
):
    client.force_login(finance_checker)
    for url in (
        reverse("admin:payouts_payout_changelist"),
        reverse("monitoring-dashboard"),
        reverse("admin:auth_user_changelist"),
    ):
        assert client.get(url).url.startswith(ENROL), url
    assert client.get(ENROL).status_code == 200
    assert client.get(VERIFY).url.startswith(ENROL)  # nothing to verify with yet
    assert client.post(reverse("admin:logout")).status_code == 200
    assert client.get(INDEX).url.startswith(reverse("admin:login"))


def test_a_backup_code_verifies_once(client, otp_required, finance_checker):
    device = confirmed_device(finance_checker)
    backup = StaticDevice.objects.create(user=finance_checker, name="Backup codes", confirmed=True)
    backup.token_set.create(token="abcd2345")

    client.force_login(finance_checker)
    assert client.post(VERIFY, {"code": "abcd2345", "next": INDEX}).url == INDEX
    client.logout()
    client.force_login(finance_checker)
    assert "That code is not right" in client.post(VERIFY, {"code": "abcd2345"}).content.decode()
    assert verify(client, device).url == INDEX  # the app's code still works (a TOTP code never hits
    # the backup device's throttle)


# ---- approving a payout
# ---------------------------------------------------------------------------


def test_an_unverified_approver_cannot_approve_a_payout_through_the_admin(
    client, otp_required, finance_checker, pending_payout
):
    client.force_login(finance_checker)
    response = client.post(approve_url(pending_payout))
    assert response.status_code == 302 and response.url.startswith(ENROL)
    pending_payout.refresh_from_db()
    assert pending_payout.status == Payout.Status.PENDING_APPROVAL


def test_the_approve_view_itself_refuses_an_unverified_session(
    otp_required, finance_checker, pending_payout
):
    request = admin_request(finance_checker)
    response = model_admin(Payout).approve_view(request, pending_payout.pk)

    assert response.status_code == 302
    assert response.url == reverse("admin:payouts_payout_change", args=[pending_payout.pk])
    assert any("Approving needs a second factor" in m for m in messages_of(request))
    pending_payout.refresh_from_db()
    assert pending_payout.status == Payout.Status.PENDING_APPROVAL


def test_the_bulk_approve_action_itself_refuses_an_unverified_session(
    otp_required, finance_checker, pending_payout
):
    request = admin_request(finance_checker, {"apply": "1"})
    result = model_admin(Payout).approve_payouts(
        request, Payout.objects.filter(pk=pending_payout.pk)
    )

    assert result is None
    assert any("Approving needs a second factor" in m for m in messages_of(request))
    pending_payout.refresh_from_db()
    assert pending_payout.status == Payout.Status.PENDING_APPROVAL


def test_a_verified_approver_approves_the_payout(
    client, otp_required, finance_checker, pending_payout
):
    device = confirmed_device(finance_checker)
    client.force_login(finance_checker)
    verify(client, device)

    page = client.post(approve_url(pending_payout), follow=True).content.decode()

    assert f"Approval: payout {pending_payout.reference} done." in page
    pending_payout.refresh_from_db()
    assert pending_payout.status == Payout.Status.APPROVED
    assert pending_payout.approved_by == finance_checker


def test_with_the_rule_off_the_action_does_not_ask(otp_required, finance_checker, pending_payout):
    otp_required.AFFILIATEHUB_OTP_REQUIRED_FOR = "none"
    request = admin_request(finance_checker)
    model_admin(Payout).approve_view(request, pending_payout.pk)
    pending_payout.refresh_from_db()
    assert pending_payout.status == Payout.Status.APPROVED


def test_every_approval_permission_named_exists():
    """A renamed permission would silently drop its holders from the second-factor rule."""
    for label in APPROVAL_PERMISSIONS:
        app_label, codename = label.split(".")
        assert Permission.objects.filter(
            content_type__app_label=app_label, codename=codename
        ).exists(), label
