"""The second-factor pages, in the admin's look and behind its staff login."""

from django.contrib import admin
from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("second-factor/enrol/", admin.site.admin_view(views.otp_enrol), name="otp_enrol"),
    path("second-factor/", admin.site.admin_view(views.otp_verify), name="otp_verify"),
]
