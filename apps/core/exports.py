"""Safe exports: no exported text is read as a formula by a spreadsheet (CSV/formula injection).

A cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets: a brand, a name or a sub-id typed as `=HYPERLINK(...)` would run
on the computer of whoever opens the export. Such text is prefixed with a single quote, as
OWASP recommends ("'=HYPERLINK(...)"), so it shows as the text it is.

Numbers are not text: a negative amount stays a number (a Decimal in XLSX, "-12.50" in CSV) so
numeric columns keep summing. Every django-import-export resource derives from
`SafeExportResource` (a test walks the admin to keep it so); hand-written writers call
`neutralise` on each value.
"""

from __future__ import annotations

from import_export import resources, widgets

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """The value as a spreadsheet should show it: text starting like a formula gets a leading
    single quote; anything that is not text (numbers, dates, None) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


class SafeExportResource(resources.ModelResource):
    """A ModelResource whose exported text cannot be a formula (see the module docstring).

    A field rendered by a number widget (DecimalWidget, IntegerWidget...) holds a number even
    when the CSV writer receives it as text ("-12.50"): it is left as it is."""

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        if self._renders_a_number(field):
            return value
        return neutralise(value)

    def _renders_a_number(self, field) -> bool:
        """The field's own widget renders it (no dehydrate method) and it is a number widget."""
        if not isinstance(field.widget, widgets.NumberWidget):
            return False
        method = field.get_dehydrate_method(self.get_field_name(field))
        return not callable(method) and getattr(self, method, None) is None
