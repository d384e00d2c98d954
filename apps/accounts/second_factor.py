"""Who must prove a second factor (TOTP) before using the back office, and whether they have.

The rule lives here once; the middleware (every admin page) and the approval actions (the acts
that move money) both ask it. Settings (README "Staff accounts"):

- AFFILIATEHUB_OTP_REQUIRED_FOR: "approvers" (default): superusers and holders of any
  APPROVAL_PERMISSIONS; "all": every staff user; "none": nobody (a second factor stays optional).
- AFFILIATEHUB_OTP_EXEMPT_USERNAMES: usernames never asked (the `make run` demo admin only).
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django_otp import user_has_device

from apps.core import conf

REQUIRED_FOR_CHOICES = ("approvers", "all", "none")

# The permissions that release or redirect money: whoever holds one proves a second factor.
APPROVAL_PERMISSIONS = (
    "payouts.approve_payout",
    "payouts.approve_payoutmethodchange",
    "payouts.approve_manualadjustment",
    "commissions.approve_statement",
    "integrations.approve_endpointurlchange",
)


def required_for() -> str:
    return conf.text("AFFILIATEHUB_OTP_REQUIRED_FOR")


def is_exempt(user) -> bool:
    return user.get_username() in conf.items("AFFILIATEHUB_OTP_EXEMPT_USERNAMES")


def holds_approval_permission(user) -> bool:
    return user.is_superuser or any(user.has_perm(perm) for perm in APPROVAL_PERMISSIONS)


def is_required(user) -> bool:
    """Whether this user must prove a second factor before working in the back office."""
    if not (user.is_authenticated and user.is_active) or is_exempt(user):
        return False
    mode = required_for()
    if mode == "all":
        return user.is_staff or user.is_superuser
    if mode == "approvers":
        return holds_approval_permission(user)
    return False


def is_verified(user) -> bool:
    """Whether this session proved a second factor (django-otp's OTPMiddleware sets it up)."""
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def has_confirmed_device(user) -> bool:
    return user_has_device(user, confirmed=True)


def is_missing(user) -> bool:
    """True when the user must prove a second factor and this session has not."""
    return is_required(user) and not is_verified(user)


def page_url(user) -> str:
    """Where this user proves a second factor: enrolment without a confirmed device, else the
    code page."""
    return reverse("accounts:otp_verify" if has_confirmed_device(user) else "accounts:otp_enrol")


def approval_refusal(request: HttpRequest) -> str | None:
    """Why this request may not approve (None when it may): the check each approval action makes
    itself, so no route around the middleware (a new URL, a changed setting) lets money move on a
    password alone."""
    if not is_missing(request.user):
        return None
    return format_html(
        'Approving needs a second factor in this session. <a href="{}">Enter the code from your '
        "authenticator app</a>, then approve again.",
        page_url(request.user),
    )


def refused_without_second_factor(request: HttpRequest) -> bool:
    """True (with the reason added to the admin's messages) when this request may not approve."""
    refusal = approval_refusal(request)
    if refusal is not None:
        messages.error(request, refusal)
    return refusal is not None


def approval_action(action):
    """For an admin action that approves a money movement: without a second factor it does
    nothing but say why (the admin goes back to the list)."""

    @functools.wraps(action)
    def guarded(modeladmin, request, queryset):
        if refused_without_second_factor(request):
            return None
        return action(modeladmin, request, queryset)

    return guarded
