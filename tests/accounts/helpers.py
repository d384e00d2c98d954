"""Helpers for the staff-account tests."""

from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.middleware import SessionMiddleware
from django.test import RequestFactory
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def current_code(device: TOTPDevice) -> str:
    """The 6 digits the user's authenticator app shows now."""
    code = totp(
        device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift
    )
    return f"{code:0{device.digits}d}"


def wrong_code(device: TOTPDevice) -> str:
    return "000000" if current_code(device) != "000000" else "111111"


def confirmed_device(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def admin_request(user, data=None):
    """A POST as the admin would receive it, without going through the middleware: a session that
    proved no second factor, and somewhere for messages to go."""
    request = RequestFactory().post("/admin/", data or {})
    request.user = user
    SessionMiddleware(lambda r: None).process_request(request)
    request._messages = FallbackStorage(request)
    return request


def model_admin(model):
    return admin.site._registry[model]


def messages_of(request) -> list[str]:
    return [str(m) for m in get_messages(request)]
