"""Read (polling) routes of the integrations app, included under /api/v1/."""

from django.urls import path

from apps.integrations.api.read_views import InboundEventDetailView, InboundEventListView

urlpatterns = [
    path("events/", InboundEventListView.as_view(), name="events"),
    path("events/<str:pk>/", InboundEventDetailView.as_view(), name="event"),
]
