from django.urls import path

from apps.payouts.api.views import PayoutListView

urlpatterns = [
    path("payouts/", PayoutListView.as_view(), name="payouts"),
]
