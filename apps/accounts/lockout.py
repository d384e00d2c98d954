"""django-axes hooks: the client address behind a proxy, and the page a locked-out sign-in gets."""

from __future__ import annotations

import math

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib import admin
from django.shortcuts import render

from apps.core.addresses import client_address


def client_ip_address(request) -> str | None:
    """The address lock-outs are counted on (AXES_CLIENT_IP_CALLABLE): the same client address
    the API-key and /metrics allow-lists use (apps.core.addresses: REMOTE_ADDR, or behind one of
    AFFILIATEHUB_TRUSTED_PROXIES the right-most X-Forwarded-For hop that is not a trusted proxy)."""
    address = client_address(request)
    return str(address) if address is not None else request.META.get("REMOTE_ADDR")


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
    return render(
        request, "accounts/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
