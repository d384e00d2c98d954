"""Second-factor writes: enrolling an authenticator app, its backup codes, checking a code.

Confirming a device changes who may approve (an approver without one is refused), so it is
audited in the same transaction, and so is removing one (a superuser, in the admin, when a phone
is lost; the user then enrols again at the next sign-in).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp import devices_for_user, verify_token
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.audit import audit_record

TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10


class SecondFactorError(Exception):
    """A second-factor step that cannot be done; the message is shown to the user as it is."""


def totp_enrolment_start(*, user) -> TOTPDevice:
    """The user's pending (unconfirmed) authenticator device, made on the first call: the same
    secret and QR code on every visit until a code confirms it."""
    with transaction.atomic():
        # One pending device per user, even when two tabs open the page at once.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            raise SecondFactorError(
                "You already have an authenticator app. To replace it (a lost phone), "
                "ask an administrator to remove it; you then enrol again."
            )
        device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        return device or TOTPDevice.objects.create(
            user=user, name=TOTP_DEVICE_NAME, confirmed=False
        )


def totp_enrolment_confirm(*, device: TOTPDevice, token: str) -> list[str]:
    """Confirm a pending device with a code from the app and issue fresh backup codes (returned
    to be shown once). A wrong code is refused; the refusal counts towards django-otp's
    throttling, so the counter is committed, not rolled back."""
    with transaction.atomic():
        locked = TOTPDevice.objects.select_for_update().get(pk=device.pk)
        if locked.confirmed:
            raise SecondFactorError("This authenticator app is already confirmed.")
        _ensure_verify_allowed(locked)
        accepted = locked.verify_token(token)
        if accepted:
            locked.confirmed = True
            locked.save(update_fields=["confirmed"])
            codes = _backup_codes_replace(user=locked.user)
            audit_record(
                action="second_factor.enrolled",
                instance=locked,
                actor=locked.user,
                after={"device": locked.name, "backup_codes": len(codes)},
            )
    if not accepted:
        raise SecondFactorError(
            "That code is not right. Enter the 6 digits your app shows now "
            "(they change every 30 seconds; check the phone's clock)."
        )
    return codes


def second_factor_check(*, user, token: str) -> Device:
    """The confirmed device of this user that accepts the code: a 6-digit code from the app, or
    one of the backup codes (each works once)."""
    token = token.strip().replace(" ", "")
    kind = TOTPDevice if token.isdigit() else StaticDevice
    devices = [d for d in devices_for_user(user, confirmed=True) if isinstance(d, kind)]
    if not devices:
        raise SecondFactorError("You have no second factor yet: enrol an authenticator app first.")
    for device in devices:
        _ensure_verify_allowed(device)
        if verify_token(user, device.persistent_id, token) is not None:
            return device
    raise SecondFactorError(
        "That code is not right. Enter the 6 digits your app shows now, or one of "
        "your backup codes."
    )


def _ensure_verify_allowed(device: Device) -> None:
    allowed, details = device.verify_is_allowed()
    if not allowed:
        locked_until = (details or {}).get("locked_until")
        when = f" until {locked_until:%H:%M:%S %Z}" if locked_until else " for a while"
        raise SecondFactorError(
            f"Too many wrong codes: codes are not checked{when}. Try again then."
        )


def _backup_codes_replace(*, user) -> list[str]:
    """Called with the user's pending device locked: only one confirmation runs at a time."""
    device = StaticDevice.objects.filter(user=user, name=BACKUP_DEVICE_NAME).order_by(
        "pk"
    ).first() or StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def second_factor_remove(*, device: Device, acting_user) -> None:
    """Remove a user's authenticator app or backup codes (a lost phone), audited in the same
    transaction; the user enrols again at the next sign-in if a second factor is due."""
    with transaction.atomic():
        audit_record(
            action="second_factor.removed",
            instance=device,
            actor=acting_user,
            before={
                "user": device.user.get_username(),
                "device": device.name,
                "kind": type(device).__name__,
                "confirmed": device.confirmed,
            },
        )
        device.delete()
