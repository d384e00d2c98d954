from django.urls import path

from apps.compliance.api.views import RetentionPlayerListView

urlpatterns = [
    path("players/", RetentionPlayerListView.as_view(), name="players"),
]
