"""Standard Webhooks signature verification (WEBHOOKS.md §1) and the integration lookup cache.

Equivalent to `standardwebhooks.Webhook.verify` but strict and total: every malformed input
(missing or oversized headers, non-integer or absurd timestamps, bad base64, unknown versions,
non-UTF-8 bodies) ends in `SignatureError`, never in another exception, and the body is never
parsed here. Signed content: `{webhook-id}.{webhook-timestamp}.{raw body bytes}`, HMAC-SHA256
with the base64-decoded key after the `whsec_` prefix. Any `v1,` signature in the
space-separated header matching any usable secret passes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

from apps.integrations import conf

MAX_WEBHOOK_ID_LENGTH = 255
MAX_SIGNATURE_HEADER_LENGTH = 4096
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,12}$")
_WEBHOOK_ID_RE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces or separators


class SignatureError(Exception):
    """The request is not authentically signed (answered 401, detail is safe to show)."""


class SignatureMismatch(SignatureError):
    """Well-formed headers, but no signature matches any usable secret."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    material = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(material + "=" * (-len(material) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("Secret is not valid base64.") from exc
    if not key:
        raise ValueError("Secret is empty.")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` for the given content (used by tests, the sandbox and outbound delivery)."""
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _signatures(header: str) -> list[bytes]:
    found = []
    for part in header.split(" "):
        version, sep, value = part.partition(",")
        if not sep or version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify(
    *,
    webhook_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    keys: tuple[bytes, ...],
    now: float | None = None,
) -> int:
    """Check headers and signature; returns the timestamp. Raises SignatureError on any fault."""
    if not webhook_id or not timestamp or not signature:
        missing = [
            name
            for name, value in (
                ("webhook-id", webhook_id),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", signature),
            )
            if not value
        ]
        raise SignatureError(f"Missing header(s): {', '.join(missing)}.")
    if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH or not _WEBHOOK_ID_RE.match(webhook_id):
        raise SignatureError(
            f"webhook-id must be 1-{MAX_WEBHOOK_ID_LENGTH} visible ASCII characters."
        )
    if not _TIMESTAMP_RE.match(timestamp):
        raise SignatureError("webhook-timestamp must be an integer number of Unix seconds.")
    sent_at = int(timestamp)
    now = time.time() if now is None else now
    tolerance = conf.seconds("AFFILIATEHUB_WEBHOOK_TOLERANCE_SECONDS")
    if sent_at < now - tolerance:
        raise SignatureError("webhook-timestamp is too old.")
    if sent_at > now + tolerance:
        raise SignatureError("webhook-timestamp is in the future.")
    if len(signature) > MAX_SIGNATURE_HEADER_LENGTH:
        raise SignatureError("webhook-signature is too long.")
    candidates = _signatures(signature)
    if not candidates:
        raise SignatureError("webhook-signature has no v1 signature.")
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    for key in keys:
        expected = hmac.new(key, signed, hashlib.sha256).digest()
        for candidate in candidates:
            if hmac.compare_digest(expected, candidate):
                return sent_at
    raise SignatureMismatch("No signature matches.")


# ---------------------------------------------------------------------------------------------
# Integration lookup, cached per process for a few seconds (the hot path reads it per request).


@dataclass(frozen=True)
class IntegrationAuth:
    """What the webhook view needs to know about an integration."""

    id: int
    slug: str
    kind: str
    is_active: bool
    keys: tuple[tuple[bytes, dt.datetime | None], ...]  # (HMAC key, expires_at)

    def usable_keys(self, at: dt.datetime) -> tuple[bytes, ...]:
        return tuple(key for key, expires_at in self.keys if expires_at is None or expires_at > at)


_cache: dict[str, tuple[float, IntegrationAuth | None]] = {}


def forget(slug: str | None = None) -> None:
    """Drop cached integrations (one slug, or all)."""
    if slug is None:
        _cache.clear()
    else:
        _cache.pop(slug, None)


def integration_auth(slug: str, *, fresh: bool = False) -> IntegrationAuth | None:
    ttl = conf.seconds("AFFILIATEHUB_INTEGRATION_CACHE_SECONDS")
    clock = time.monotonic()
    if not fresh and ttl > 0:
        cached = _cache.get(slug)
        if cached is not None and clock - cached[0] < ttl:
            return cached[1]
    auth = _load(slug)
    if ttl > 0:
        if len(_cache) > 10_000:  # unknown slugs must not grow the cache without bound
            _cache.clear()
        _cache[slug] = (clock, auth)
    return auth


def _load(slug: str) -> IntegrationAuth | None:
    from django.utils import timezone

    from apps.integrations.models import Integration, IntegrationSecret

    row = Integration.objects.filter(slug=slug).values_list("id", "kind", "is_active").first()
    if row is None:
        return None
    keys = []
    for secret, expires_at in (
        IntegrationSecret.objects.filter(integration_id=row[0])
        .usable(timezone.now())
        .values_list("secret", "expires_at")
    ):
        try:
            keys.append((decode_secret(secret), expires_at))
        except ValueError:
            continue  # a damaged secret verifies nothing; the others still do
    return IntegrationAuth(id=row[0], slug=slug, kind=row[1], is_active=row[2], keys=tuple(keys))
