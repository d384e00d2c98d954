"""The small forms of the payouts admin's intermediate pages."""

from __future__ import annotations

from django import forms

from apps.payouts.models import (
    Payout,
    PayoutMethod,
)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True)


class MethodForm(forms.Form):
    method = forms.ModelChoiceField(queryset=PayoutMethod.objects.none())

    def __init__(self, *args, payout: Payout, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["method"].queryset = PayoutMethod.objects.filter(
            affiliate_id=payout.affiliate_id, is_active=True, currency=payout.currency
        ).exclude(pk=payout.method_id)
