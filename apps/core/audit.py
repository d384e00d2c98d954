"""Write audit rows inside the caller's transaction (STYLE.md: services audit what they change)."""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

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


def audit_diff(before: dict | None, after: dict | None) -> tuple[dict | None, dict | None]:
    """Only the values that changed: ({field: old}, {field: new}). A creation (no before) or a
    deletion (no after) keeps every value of the side that exists."""
    if before is None or after is None:
        return before, after
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return {k: before.get(k) for k in changed}, {k: after.get(k) for k in changed}


def stored_values(instance: models.Model) -> dict[str, Any] | None:
    """The values of `instance` as the database holds them now (None for a new row)."""
    if instance.pk is None:
        return None
    stored = type(instance)._base_manager.filter(pk=instance.pk).first()
    return snapshot(stored) if stored is not None else None


def audit_change(
    *,
    instance: models.Model,
    before: dict | None,
    deleted: bool = False,
    actor=None,
    actor_label: str = "",
    reason: str = "",
    action: str = "",
) -> AuditLog | None:
    """Audit a save or a deletion of any model with its before/after values (only what changed).

    `before` is `stored_values(instance)` taken before the write. Nothing is written when a
    save changed nothing. The action defaults to `<model>.created|changed|deleted`.
    """
    after = None if deleted else snapshot(instance)
    # Bookkeeping timestamps (auto_now) change on every save and say nothing about the change.
    noise = {f.attname for f in instance._meta.concrete_fields if getattr(f, "auto_now", False)}
    if before is not None and after is not None:
        before = {k: v for k, v in before.items() if k not in noise}
        after = {k: v for k, v in after.items() if k not in noise}
    old, new = audit_diff(before, after)
    if old == new == {}:
        return None
    verb = "deleted" if deleted else ("created" if before is None else "changed")
    return audit_record(
        action=action or f"{instance._meta.model_name}.{verb}",
        instance=instance,
        actor=actor,
        actor_label=actor_label or ("" if actor is not None else "system"),
        before=old,
        after=new,
        reason=reason,
    )


def audited_save(
    instance: models.Model, *, actor=None, actor_label: str = "", reason: str = "", action: str = ""
) -> models.Model:
    """Save `instance` and audit its before/after values in one transaction: the one write path
    for configuration that moves money (plans, rates, instruments, jurisdictions, alert rules...)
    when it is written by a service or a command rather than the admin."""
    with transaction.atomic():
        before = stored_values(instance)
        instance.save()
        audit_change(
            instance=instance,
            before=before,
            actor=actor,
            actor_label=actor_label,
            reason=reason,
            action=action,
        )
    return instance
