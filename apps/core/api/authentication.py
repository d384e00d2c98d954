"""`Authorization: Bearer <api key>` against hashed keys, with each key's expiry and address
allow-list. Refusals say why without echoing or hinting at the key."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.core.addresses import client_address
from apps.core.models import ApiKey
from apps.core.services import apikey_record_use, hash_api_key


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
        now = timezone.now()
        if api_key.is_expired(now):
            raise exceptions.AuthenticationFailed("This API key has expired; ask for a new one.")
        address = client_address(request)
        if not api_key.allows_address(address):
            raise exceptions.PermissionDenied(
                f"This API key may not be used from this address ({address or 'unknown'})."
            )
        apikey_record_use(api_key=api_key, address=address, now=now)
        return (None, api_key)

    def authenticate_header(self, request):
        return self.keyword
