"""Core write operations: API keys."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction

from apps.core.audit import audit_record
from apps.core.models import ApiKey

KEY_PREFIX = "ahk_"


class ApiKeyError(ValueError):
    pass


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def apikey_create(*, name: str, scopes: list[str], acting_user=None) -> IssuedApiKey:
    """Issue a key. The plaintext is returned once; only its hash is kept."""
    valid = set(ApiKey.Scope.values)
    unknown = sorted(set(scopes) - valid)
    if unknown:
        raise ApiKeyError(f"Unknown scopes: {', '.join(unknown)}. Valid: {', '.join(sorted(valid))}.")
    if not name.strip():
        raise ApiKeyError("A key needs a name.")
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiKey.objects.filter(name=name).exists():
            raise ApiKeyError(f"An API key named {name!r} already exists.")
        api_key = ApiKey.objects.create(
            name=name,
            prefix=plaintext[: len(KEY_PREFIX) + 8],
            key_hash=hash_api_key(plaintext),
            scopes=sorted(set(scopes)),
            created_by=acting_user,
        )
        audit_record(
            action="apikey.created",
            instance=api_key,
            actor=acting_user,
            actor_label="" if acting_user else "manage.py",
            after={"name": name, "scopes": api_key.scopes},
        )
    return IssuedApiKey(api_key=api_key, plaintext=plaintext)


def apikey_revoke(*, api_key: ApiKey, acting_user=None, reason: str = "") -> ApiKey:
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.is_active:
            api_key.is_active = False
            api_key.save(update_fields=["is_active", "updated_at"])
            audit_record(action="apikey.revoked", instance=api_key, actor=acting_user, reason=reason)
    return api_key
