"""django-axes hooks: the client address behind a proxy, and the page a locked-out sign-in gets."""

from __future__ import annotations

import math

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib import admin
from django.shortcuts import render


def client_ip_address(request) -> str | None:
    """The address lock-outs are counted on (AXES_CLIENT_IP_CALLABLE).

    Directly exposed (AFFILIATEHUB_TRUSTED_PROXY_COUNT = 0, the default) that is REMOTE_ADDR:
    X-Forwarded-For is anyone's to write. Behind N reverse proxies that each append the address
    they received from, it is the N-th entry from the right of X-Forwarded-For, the last one no
    client can forge; a request that did not pass them all falls back to REMOTE_ADDR.
    """
    remote_addr = request.META.get("REMOTE_ADDR")
    proxies = getattr(settings, "AFFILIATEHUB_TRUSTED_PROXY_COUNT", 0)
    if proxies <= 0:
        return remote_addr
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote_addr


def lockout_response(request, original_response=None, credentials=None):
    """AXES_LOCKOUT_CALLABLE: a page in the admin's look saying the account is locked, for how
    long, and whom to ask (axes' default is one bare line)."""
    cool_off = get_cool_off(request)
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "username": get_client_username(request, credentials) or "",
        "failure_limit": get_failure_limit(request, credentials),
        "cooloff_minutes": math.ceil(cool_off.total_seconds() / 60) if cool_off else None,
    }
    return render(request, "accounts/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
