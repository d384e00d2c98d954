from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff accounts: login lock-out (django-axes) and the second factor (django-otp)."""

    name = "apps.accounts"
    label = "accounts"

    def ready(self):
        from apps.accounts import checks  # noqa: F401  (registers the settings checks)
