from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Integration health"

    def ready(self):
        # Registers the Celery tasks in every process: services enqueue them by name
        # (apps.core.enqueue), so they never import the tasks module that imports them.
        from apps.monitoring import tasks  # noqa: F401
