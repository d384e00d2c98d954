from django.apps import AppConfig


class CommissionsConfig(AppConfig):
    name = "apps.commissions"
    label = "commissions"
    verbose_name = "Commissions"

    def ready(self):
        # After apps.mappings in INSTALLED_APPS: its fact handlers are registered (and run) first.
        from apps.commissions.handlers import register_handlers
        from apps.commissions.postbacks import register_postback_handlers

        register_handlers()
        register_postback_handlers()  # after the CPA handlers: qualified-CPA postbacks
