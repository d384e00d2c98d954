from django.urls import path

from apps.sandbox.poll_views import sandbox_poll

urlpatterns = [
    path("<slug:slug>/", sandbox_poll, name="sandbox-poll"),
]
