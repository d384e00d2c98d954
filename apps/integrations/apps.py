import logging

from django.apps import AppConfig
from django.core import checks


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        # Register every room's Celery tasks in every process (web, worker, beat): services
        # publish them by name (apps.core.enqueue) and never import a tasks module.
        from apps.integrations.inbound import store_tasks  # noqa: F401
        from apps.integrations.inbound import tasks as inbound_tasks  # noqa: F401
        from apps.integrations.outbound import retention  # noqa: F401 - registers its archive
        from apps.integrations.outbound import tasks as outbound_tasks  # noqa: F401
        from apps.integrations.polling import tasks as polling_tasks  # noqa: F401

        checks.register(check_retry_below_visibility_timeout)
        _connect_publish_failure_flush()


def _flush_publish_failures(**kwargs) -> None:
    from apps.integrations.inbound.dispatch import publish_failures_flush

    try:
        publish_failures_flush(only_if_due=not kwargs.get("final"))
    except Exception:  # a counter must never fail the task or request that just finished
        logging.getLogger(__name__).exception("Could not write the publish failure count.")


def _connect_publish_failure_flush() -> None:
    """Write the process's publish failure count after each task and request (at most once a
    second), and the rest when a worker process stops."""
    from celery.signals import task_postrun, worker_process_shutdown
    from django.core.signals import request_finished

    uid = "integrations.publish_failure_flush"
    task_postrun.connect(_flush_publish_failures, weak=False, dispatch_uid=uid)
    request_finished.connect(_flush_publish_failures, weak=False, dispatch_uid=uid)
    worker_process_shutdown.connect(
        lambda **kwargs: _flush_publish_failures(final=True), weak=False, dispatch_uid=uid
    )


def check_retry_below_visibility_timeout(app_configs=None, **kwargs):
    """A retry countdown at or above the broker's visibility timeout gets redelivered early."""
    from django.conf import settings

    from apps.core import conf

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    visibility = options.get("visibility_timeout")
    cap = conf.seconds("AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS")
    if visibility is not None and cap >= float(visibility):
        return [
            checks.Error(
                f"AFFILIATEHUB_EVENT_RETRY_CAP_SECONDS ({cap:.0f}) must stay below the broker "
                f"visibility_timeout ({visibility}).",
                hint="Raise CELERY_VISIBILITY_TIMEOUT or lower the retry cap.",
                id="integrations.E001",
            )
        ]
    return []
