from django.urls import path

from apps.sandbox import gateway_views

app_name = "sandbox-gateway"

urlpatterns = [
    path("payouts", gateway_views.payout_create, name="payout-create"),
    path("payouts/<str:idempotency_key>", gateway_views.payout_detail, name="payout-detail"),
]
