from django.urls import path

from apps.players.api.views import PlayerListView

urlpatterns = [
    path("players/", PlayerListView.as_view(), name="players"),
]
