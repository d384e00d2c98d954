"""Integration accounts: who may send us events, and the secrets they sign with.

The three rooms of the integrations app (inbound, polling, outbound) all work for an
`Integration`; creating one, rotating its signing secret and changing it happen here, at the
app's top level, each in one transaction with its audit row.
"""

from __future__ import annotations

import datetime as dt
import re

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import conf
from apps.core.audit import audit_record, snapshot
from apps.integrations.inbound import public as inbound
from apps.integrations.models import Integration, IntegrationSecret
from apps.integrations.signing import SECRET_PREFIX, generate_secret

__all__ = [
    "SECRET_PREFIX",
    "SLUG_RE",
    "IntegrationError",
    "generate_secret",
    "integration_create",
    "integration_rotate_secret",
    "integration_update",
]

SLUG_RE = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_ID_SYSTEM_RE = re.compile(r"^[a-z0-9]+(?:[-_.][a-z0-9]+)*$")


class IntegrationError(ValueError):
    """Bad input to an integration service (shown to the operator as is)."""


def integration_create(
    *, slug: str, kind: str, id_system: str | None = None, name: str | None = None, acting_user=None
) -> tuple[Integration, str]:
    """Create an integration and its first signing secret. The secret is returned once."""
    slug = (slug or "").strip()
    if not SLUG_RE.match(slug) or len(slug) > 64:
        raise IntegrationError(
            f"Invalid slug {slug!r}: use lower-case letters, digits, '-' or '_' (at most 64 "
            "characters)."
        )
    if kind not in Integration.Kind.values:
        raise IntegrationError(
            f"Unknown kind {kind!r}; choose one of: {', '.join(Integration.Kind.values)}."
        )
    id_system = (id_system or slug).strip()
    if not _ID_SYSTEM_RE.match(id_system) or len(id_system) > 64:
        raise IntegrationError(
            f"Invalid identifier system {id_system!r}: lower-case letters, digits, '-', '_', '.'."
        )
    plaintext = generate_secret()
    try:
        with transaction.atomic():
            integration = Integration.objects.create(
                slug=slug, name=(name or slug).strip()[:200], kind=kind, id_system=id_system
            )
            secret = IntegrationSecret.objects.create(
                integration=integration, secret=plaintext, created_by=acting_user
            )
            audit_record(
                action="integration.created",
                instance=integration,
                actor=acting_user,
                actor_label="" if acting_user else "manage.py",
                after={**snapshot(integration), "secret_id": secret.pk},
            )
    except IntegrityError as exc:
        raise IntegrationError(f"An integration with slug {slug!r} already exists.") from exc
    inbound.integration_forget(slug)
    return integration, plaintext


def integration_rotate_secret(
    *, integration: Integration, acting_user=None, grace: dt.timedelta | None = None
) -> str:
    """Issue a new signing secret; the current ones keep verifying for the grace period."""
    grace = conf.duration("AFFILIATEHUB_SECRET_ROTATION_GRACE") if grace is None else grace
    with transaction.atomic():
        integration = Integration.objects.select_for_update().get(pk=integration.pk)
        now = timezone.now()
        expires_at = now + grace
        retiring = integration.secrets.usable(now).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=expires_at)
        )
        retired_ids = sorted(retiring.values_list("pk", flat=True))
        retiring.update(expires_at=expires_at)
        plaintext = generate_secret()
        secret = IntegrationSecret.objects.create(
            integration=integration, secret=plaintext, created_by=acting_user
        )
        audit_record(
            action="integration.secret_rotated",
            instance=integration,
            actor=acting_user,
            actor_label="" if acting_user else "manage.py",
            after={
                "secret_id": secret.pk,
                "previous_secret_ids": retired_ids,
                "previous_expire_at": expires_at.isoformat(),
            },
        )
        transaction.on_commit(lambda: inbound.integration_forget(integration.slug))
    inbound.integration_forget(integration.slug)
    return plaintext


def integration_update(*, integration: Integration, acting_user, **changes) -> Integration:
    """Change an integration's name, id_system, is_active or payload_schema_version (audited)."""
    allowed = {"name", "id_system", "is_active", "payload_schema_version"}
    unknown = set(changes) - allowed
    if unknown:
        raise IntegrationError(f"Cannot change {', '.join(sorted(unknown))} here.")
    with transaction.atomic():
        locked = Integration.objects.select_for_update().get(pk=integration.pk)
        before = snapshot(locked, sorted(changes))
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action="integration.updated",
            instance=locked,
            actor=acting_user,
            before=before,
            after=snapshot(locked, sorted(changes)),
        )
        transaction.on_commit(lambda: inbound.integration_forget(locked.slug))
    inbound.integration_forget(locked.slug)
    return locked
