"""Keeps a staff user who must prove a second factor on the enrolment / code pages until they do."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.accounts import second_factor


class SecondFactorMiddleware:
    """After django-otp's OTPMiddleware: every back-office page (everything under the admin's
    URL, the extra admin pages included) answers a redirect to the second-factor page while the
    session lacks a second factor its user needs. Signing out and the second-factor pages stay
    open. Outside the admin there is nothing a staff session grants (the API takes keys)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and self._guards(request.path) and second_factor.is_missing(user):
            return self._redirect(request, user)
        return self.get_response(request)

    @staticmethod
    def _guards(path: str) -> bool:
        if not path.startswith(reverse("admin:index")):
            return False
        open_paths = (
            reverse("accounts:otp_enrol"),
            reverse("accounts:otp_verify"),
            reverse("admin:logout"),
            reverse("admin:login"),
        )
        return not path.startswith(open_paths)

    @staticmethod
    def _redirect(request, user):
        query = urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(f"{second_factor.page_url(user)}?{query}")
