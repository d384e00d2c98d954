"""Inbound webhook routes, included under /api/v1/ (namespace v1)."""

from django.urls import path

from apps.integrations.api import views

urlpatterns = [
    path("webhooks/<slug:slug>/", views.webhook, name="webhook"),
    path("webhooks/<slug:slug>/batch/", views.webhook_batch, name="webhook-batch"),
]
