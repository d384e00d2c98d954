"""Admin mixins shared by every app."""

from __future__ import annotations


class ReadOnlyAdminMixin:
    """A ModelAdmin whose records are viewed, never added, changed or deleted in the admin
    (evidence, facts, decisions taken through actions): no Save button, no add or delete."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
