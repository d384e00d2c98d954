from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "apps.monitoring"
    label = "monitoring"
    verbose_name = "Integration health"

    def ready(self):
        # Registers the Celery tasks in every process: services enqueue them by name
        # (apps.core.enqueue), so they never import the tasks module that imports them.
        from apps.core.alerts import alert_raised
        from apps.core.partitions import partition_dropping
        from apps.monitoring import tasks  # noqa: F401
        from apps.monitoring.receivers import alerts_release_archived_deliveries
        from apps.monitoring.services import alert_record_event

        # The one alert system: event alerts raised below monitoring (apps.core.alerts) become
        # monitoring.Alert rows, written in the raiser's transaction.
        alert_raised.connect(alert_record_event, dispatch_uid="monitoring.alert_record_event")
        partition_dropping.connect(
            alerts_release_archived_deliveries,
            dispatch_uid="monitoring.alerts_release_archived_deliveries",
        )
