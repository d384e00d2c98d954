from django.apps import AppConfig


class CommissionsConfig(AppConfig):
    name = "apps.commissions"
    label = "commissions"
    verbose_name = "Commissions"

    def ready(self):
        # After apps.mappings in INSTALLED_APPS: its fact handlers are registered (and run) first.
        from apps.commissions.handlers import register_handlers

        register_handlers()
