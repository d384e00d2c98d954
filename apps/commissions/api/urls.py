from django.urls import path

from apps.commissions.api.views import CommissionEntryListView, StatementListView

urlpatterns = [
    path("commissions/", CommissionEntryListView.as_view(), name="commissions"),
    path("statements/", StatementListView.as_view(), name="statements"),
]
