"""A lost phone: a superuser removes a user's second-factor device in the admin, audited, and
never sees its secret key there."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.models import AuditLog
from tests.accounts.helpers import confirmed_device
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_removing_a_device_is_audited_and_the_key_is_never_shown(admin_client):
    device = confirmed_device(UserFactory(username="fin-approver", roles=["Finance"]))
    page = admin_client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))
    assert page.status_code == 200
    assert device.key not in page.content.decode() and "qrcode" not in page.content.decode()

    admin_client.post(
        reverse("admin:otp_totp_totpdevice_changelist"),
        {"action": "remove_devices", "_selected_action": [device.pk]},
    )
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    row = AuditLog.objects.get(action="second_factor.removed")
    assert row.before["user"] == "fin-approver" and row.actor.is_superuser
