"""`Authorization: Bearer <api key>` against hashed keys."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.core.models import ApiKey
from apps.core.services import hash_api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0] != self.keyword:
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        api_key = ApiKey.objects.filter(key_hash=hash_api_key(parts[1]), is_active=True).first()
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        # Cheap "last used" without a write per request: at most once a minute.
        now = timezone.now()
        if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        return (None, api_key)

    def authenticate_header(self, request):
        return self.keyword
