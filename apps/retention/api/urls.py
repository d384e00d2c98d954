from django.urls import path

from apps.retention.api.views import RetentionPlayerListView

urlpatterns = [
    path("players/", RetentionPlayerListView.as_view(), name="players"),
]
