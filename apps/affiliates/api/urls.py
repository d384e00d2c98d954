from django.urls import path

from apps.affiliates.api.views import AffiliateListView

urlpatterns = [
    path("affiliates/", AffiliateListView.as_view(), name="affiliates"),
]
