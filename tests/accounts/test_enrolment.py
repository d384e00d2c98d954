"""Enrolling an authenticator app: the QR code and key, a wrong code refused, a right one
confirms the device (audited), verifies the session and shows the backup codes once."""

import pytest
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.models import AuditLog

from .helpers import confirmed_device, current_code, wrong_code

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")
ENROL = reverse("accounts:otp_enrol")


@pytest.fixture
def approver_client(client, otp_required, finance_checker):
    client.force_login(finance_checker)
    return client


def test_the_page_shows_a_qr_code_and_the_key_of_one_pending_device(
    approver_client, finance_checker
):
    page = approver_client.get(f"{ENROL}?next=/admin/payouts/payout/").content.decode()
    device = TOTPDevice.objects.get(user=finance_checker)

    assert not device.confirmed
    assert '<div id="otp-qr"' in page and "<svg" in page
    key = page.split('<code id="otp-secret"')[1].split(">")[1].split("<")[0]
    assert len(key.replace(" ", "")) == 32  # 20 random bytes, base32
    assert "can approve payouts" in page and 'value="/admin/payouts/payout/"' in page
    approver_client.get(ENROL)
    assert (
        TOTPDevice.objects.filter(user=finance_checker).count() == 1
    )  # the same QR code on a reload


def test_a_wrong_code_is_refused_with_a_message(approver_client, finance_checker):
    approver_client.get(ENROL)
    device = TOTPDevice.objects.get(user=finance_checker)

    response = approver_client.post(ENROL, {"code": wrong_code(device)})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed and device.throttling_failure_count == 1  # the throttle counts it
    assert approver_client.get(INDEX).url.startswith(ENROL)


def test_a_right_code_confirms_verifies_and_shows_backup_codes_once(
    approver_client, finance_checker
):
    approver_client.get(ENROL)
    device = TOTPDevice.objects.get(user=finance_checker)

    response = approver_client.post(
        ENROL, {"code": current_code(device), "next": "/admin/payouts/payout/"}
    )

    page = response.content.decode()
    assert response.status_code == 200 and "they are shown only now" in page
    codes = set(
        StaticToken.objects.filter(device__user=finance_checker).values_list("token", flat=True)
    )
    assert len(codes) == 10 and all(code in page for code in codes)
    assert 'href="/admin/payouts/payout/"' in page
    device.refresh_from_db()
    assert device.confirmed
    audit = AuditLog.objects.get(action="second_factor.enrolled")
    assert audit.actor == finance_checker and audit.after == {
        "device": "Authenticator app",
        "backup_codes": 10,
    }
    assert approver_client.get(INDEX).status_code == 200  # this session is verified

    again = approver_client.get(ENROL)
    assert (
        again.status_code == 302
    )  # no second enrolment: an administrator removes a lost device first


def test_a_user_with_a_device_is_sent_to_the_code_page_instead(approver_client, finance_checker):
    confirmed_device(finance_checker)
    assert approver_client.get(ENROL).url.startswith(reverse("accounts:otp_verify"))


def test_staff_who_need_no_second_factor_may_still_enrol(client, otp_required, retention_user):
    client.force_login(retention_user)
    page = client.get(ENROL).content.decode()
    assert "<svg" in page and "can approve payouts" not in page


def test_the_next_address_must_stay_on_this_site(approver_client, finance_checker):
    approver_client.get(ENROL)
    device = TOTPDevice.objects.get(user=finance_checker)
    page = approver_client.post(
        ENROL, {"code": current_code(device), "next": "https://evil.example/"}
    ).content.decode()
    assert "evil.example" not in page and f'href="{INDEX}"' in page
