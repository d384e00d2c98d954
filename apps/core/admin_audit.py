"""Admin saves of money-moving configuration, audited with their values (ISSUE 12 §4).

`AuditedAdminMixin` goes first in a ModelAdmin's bases. Every save, inline save, list_editable
save and deletion made through that admin writes an audit row with the changed fields' before
and after values, inside the admin's own transaction (Django wraps the change form, the
changelist's bulk edit and the delete view in one), through the same helper services and
commands use (`apps.core.audit.audited_save`).
"""

from __future__ import annotations

from apps.core.audit import audit_change, snapshot, stored_values


class AuditedAdminMixin:
    def save_model(self, request, obj, form, change):
        before = stored_values(obj) if change else None
        super().save_model(request, obj, form, change)
        audit_change(instance=obj, before=before, actor=request.user)

    def delete_model(self, request, obj):
        before, pk = snapshot(obj), obj.pk
        super().delete_model(request, obj)
        obj.pk = pk
        audit_change(instance=obj, before=before, deleted=True, actor=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset.order_by("pk"):
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        # Read from the database: the formset's own instances already hold the submitted values.
        pks = [f.instance.pk for f in formset.initial_forms if f.instance.pk is not None]
        stored = {obj.pk: snapshot(obj) for obj in formset.model._base_manager.filter(pk__in=pks)}
        # Deleting an instance clears its pk; remember which row each deleted form held.
        deleted_pks = {id(f.instance): f.instance.pk for f in formset.deleted_forms}
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            audit_change(instance=obj, before=None, actor=request.user)
        for obj, _fields in formset.changed_objects:
            audit_change(instance=obj, before=stored.get(obj.pk), actor=request.user)
        for obj in formset.deleted_objects:
            obj.pk = obj.pk or deleted_pks.get(id(obj))
            audit_change(
                instance=obj,
                before=stored.get(obj.pk) or snapshot(obj),
                deleted=True,
                actor=request.user,
            )
