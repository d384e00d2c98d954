from django.apps import AppConfig


class PipelineConfig(AppConfig):
    name = "apps.pipeline"
    label = "pipeline"
    verbose_name = "Inbound event pipelines"

    def ready(self):
        """Hand the declaration to the registry (which knows no domain app), with the column
        limits of what the handlers store, which the webhook door enforces."""
        from apps.integrations.inbound.public import install_pipelines, limit
        from apps.pipeline.pipelines import PIPELINES, column_limits

        install_pipelines(PIPELINES)
        for event_type, field, max_length, key_pattern in column_limits():
            limit(event_type, field, max_length, key_pattern=key_pattern)
