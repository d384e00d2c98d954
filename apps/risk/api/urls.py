from django.urls import path

from apps.risk.api.views import RiskCaseListView

urlpatterns = [
    path("risk-cases/", RiskCaseListView.as_view(), name="risk-cases"),
]
