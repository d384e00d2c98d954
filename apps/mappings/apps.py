from django.apps import AppConfig


class MappingsConfig(AppConfig):
    name = "apps.mappings"
    label = "mappings"

    def ready(self):
        # Explicit registration (no signals): the fact handlers of the inbound pipeline.
        from apps.mappings.handlers import register_handlers
        from apps.mappings.postbacks import register_postback_handlers

        register_handlers()
        register_postback_handlers()  # after the fact handlers: first-deposit postbacks
