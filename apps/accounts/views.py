"""The second-factor pages: enrol an authenticator app, then enter its code at each sign-in."""

from __future__ import annotations

from base64 import b32encode
from urllib.parse import urlencode

import django_otp
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from apps.accounts import second_factor, services
from apps.accounts.forms import CodeForm
from apps.accounts.qr import qr_svg


def otp_enrol(request):
    """Shows the pending device's QR code and secret; a right code confirms it, verifies this
    session and shows the backup codes once."""
    user = request.user
    if second_factor.has_confirmed_device(user):
        return _redirect_keeping_next(request, reverse("accounts:otp_verify"))
    device = services.totp_enrolment_start(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            backup_codes = services.totp_enrolment_confirm(
                device=device, token=form.cleaned_data["code"]
            )
        except services.SecondFactorError as exc:
            form.add_error("code", str(exc))
        else:
            _mark_verified(request, device)
            return _page(
                request,
                "accounts/backup_codes.html",
                "Second factor enrolled",
                {"backup_codes": backup_codes, "next": _next_url(request)},
            )
    return _page(
        request,
        "accounts/enrol.html",
        "Set up your second factor",
        {
            "form": form,
            "qr": qr_svg(device.config_url),
            "secret": _grouped(b32encode(device.bin_key).decode()),
            "required": second_factor.is_required(user),
            "next": _next_url(request),
        },
    )


def otp_verify(request):
    """Asks for a code from the authenticator app (or a backup code) once per sign-in."""
    user = request.user
    if not second_factor.has_confirmed_device(user):
        return _redirect_keeping_next(request, reverse("accounts:otp_enrol"))
    if second_factor.is_verified(user):
        return HttpResponseRedirect(_next_url(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device = services.second_factor_check(user=user, token=form.cleaned_data["code"])
        except services.SecondFactorError as exc:
            form.add_error("code", str(exc))
        else:
            _mark_verified(request, device)
            return HttpResponseRedirect(_next_url(request))
    return _page(
        request,
        "accounts/verify.html",
        "Enter your second-factor code",
        {"form": form, "next": _next_url(request)},
    )


def _mark_verified(request, device) -> None:
    # A new session key for the stronger session, as Django does at login.
    request.session.cycle_key()
    django_otp.login(request, device)


def _page(request, template: str, title: str, context: dict):
    return render(
        request, template, {**admin.site.each_context(request), "title": title, **context}
    )


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def _redirect_keeping_next(request, url: str):
    return HttpResponseRedirect(f"{url}?{urlencode({'next': _next_url(request)})}")


def _grouped(secret: str) -> str:
    """The base32 secret in blocks of four, as authenticator apps print it for typing."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
