"""django-import-export resources: FX rates published by a provider, imported from a file."""

from import_export import resources

from apps.payouts.models import FxRate


class FxRateResource(resources.ModelResource):
    class Meta:
        model = FxRate
        fields = ("base", "quote", "rate", "source", "as_of")
        import_id_fields = ("base", "quote", "as_of", "source")
        skip_unchanged = True
        report_skipped = True
