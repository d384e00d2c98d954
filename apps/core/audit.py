"""Write audit rows inside the caller's transaction (STYLE.md: services audit what they change)."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from apps.core.models import AuditLog


def snapshot(instance: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """A JSON-safe dict of a model instance's concrete field values."""
    data = {}
    for field in instance._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        data[field.attname] = field.value_from_object(instance)
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def audit_record(
    *,
    action: str,
    instance: models.Model,
    actor=None,
    actor_label: str = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
) -> AuditLog:
    """Record one change. Call it inside the transaction that makes the change."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditLog.objects.create(
        actor=actor,
        actor_label=actor_label[:200],
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:200],
        before=before,
        after=after,
        reason=reason,
    )
