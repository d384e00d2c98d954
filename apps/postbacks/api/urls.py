from django.urls import path

from apps.postbacks.api.views import RegistrationView

urlpatterns = [
    path("registrations/", RegistrationView.as_view(), name="registrations"),
]
