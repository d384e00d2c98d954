"""Core write operations: API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import conf
from apps.core.addresses import IPAddress, parse_network, validate_networks
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


def _normalised_allow_list(allowed_ips: list[str]) -> list[str]:
    """Each entry as its network ("10.0.0.7" -> "10.0.0.7/32"), in order, without duplicates."""
    try:
        validate_networks(allowed_ips)
    except ValidationError as exc:
        raise ApiKeyError(" ".join(exc.messages)) from exc
    return list(dict.fromkeys(str(parse_network(entry)) for entry in allowed_ips if entry.strip()))


def apikey_create(
    *,
    name: str,
    scopes: list[str],
    acting_user=None,
    expires_at: dt.datetime | None = None,
    allowed_ips: list[str] | None = None,
) -> IssuedApiKey:
    """Issue a key, optionally expiring and limited to addresses. The plaintext is returned
    once; only its hash is kept."""
    valid = set(ApiKey.Scope.values)
    unknown = sorted(set(scopes) - valid)
    if unknown:
        raise ApiKeyError(
            f"Unknown scopes: {', '.join(unknown)}. Valid: {', '.join(sorted(valid))}."
        )
    if not name.strip():
        raise ApiKeyError("A key needs a name.")
    if expires_at is not None and (timezone.is_naive(expires_at) or expires_at <= timezone.now()):
        raise ApiKeyError("The expiry must be an aware date and time in the future.")
    networks = _normalised_allow_list(allowed_ips or [])
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if ApiKey.objects.filter(name=name).exists():
            raise ApiKeyError(f"An API key named {name!r} already exists.")
        api_key = ApiKey.objects.create(
            name=name,
            prefix=plaintext[: len(KEY_PREFIX) + 8],
            key_hash=hash_api_key(plaintext),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
            allowed_ips=networks,
            created_by=acting_user,
        )
        audit_record(
            action="apikey.created",
            instance=api_key,
            actor=acting_user,
            actor_label="" if acting_user else "manage.py",
            after={
                "name": name,
                "scopes": api_key.scopes,
                "expires_at": expires_at.isoformat() if expires_at else None,
                "allowed_ips": networks,
            },
        )
    return IssuedApiKey(api_key=api_key, plaintext=plaintext)


def apikey_revoke(*, api_key: ApiKey, acting_user=None, reason: str = "") -> ApiKey:
    """Deactivate a key for good (audited); revoking a revoked key changes nothing."""
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.is_active:
            api_key.is_active = False
            api_key.save(update_fields=["is_active", "updated_at"])
            audit_record(
                action="apikey.revoked",
                instance=api_key,
                actor=acting_user,
                actor_label="" if acting_user else "manage.py",
                before={"is_active": True},
                after={"is_active": False},
                reason=reason,
            )
    return api_key


def apikey_record_use(
    *, api_key: ApiKey, address: IPAddress | None, now: dt.datetime | None = None
) -> bool:
    """Note when and from where a key was last used, at most once per
    AFFILIATEHUB_API_KEY_LAST_USED_INTERVAL seconds: not a write per request. True if written.

    The condition is part of the UPDATE, so processes racing on one key write it once."""
    now = now or timezone.now()
    due = now - conf.duration("AFFILIATEHUB_API_KEY_LAST_USED_INTERVAL")
    if api_key.last_used_at is not None and api_key.last_used_at > due:
        return False  # the row just read says it is recent: no query at all
    written = (
        ApiKey.objects.filter(pk=api_key.pk)
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lte=due))
        .update(last_used_at=now, last_used_ip=str(address) if address else None)
    )
    if written:
        api_key.last_used_at, api_key.last_used_ip = now, str(address) if address else None
    return bool(written)
