"""django-import-export resources: FX rates published by a provider, imported from a file."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from import_export import fields, widgets

from apps.core.exports import SafeExportResource
from apps.payouts.models import FxRate


class AwareDateTimeWidget(widgets.DateTimeWidget):
    """ISO 8601 with an offset ("2026-11-26T16:00:00+00:00", "...Z"); a time without one is
    taken as UTC, since a rate's publication time must be unambiguous."""

    def clean(self, value, row=None, **kwargs):
        if not value:
            return None
        if hasattr(value, "tzinfo"):
            parsed = value
        else:
            parsed = parse_datetime(str(value).strip().replace(" ", "T", 1))
            if parsed is None:
                raise ValueError(f"Not an ISO 8601 time: {value!r}")
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, dt.UTC)

    def render(self, value, obj=None, **kwargs):
        return value.isoformat() if value else ""


class FxRateResource(SafeExportResource):
    as_of = fields.Field(attribute="as_of", column_name="as_of", widget=AwareDateTimeWidget())

    class Meta:
        model = FxRate
        fields = ("base", "quote", "rate", "source", "as_of")
        import_id_fields = ("base", "quote", "as_of", "source")
        skip_unchanged = True
        report_skipped = True
