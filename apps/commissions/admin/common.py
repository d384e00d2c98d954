"""What the commissions admins share."""

from __future__ import annotations

from django.contrib import admin

from apps.core.admin_mixins import ReadOnlyAdminMixin


def _adopt(obj, created) -> None:
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(created, field.attname))
    obj._state.adding = False
    obj._state.db = created._state.db


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Viewed only: ledger rows, statements and clawback history change through services."""
