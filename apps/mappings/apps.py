import logging

from django.apps import AppConfig


class MappingsConfig(AppConfig):
    name = "apps.mappings"
    label = "mappings"

    def ready(self):
        _connect_resolution_flush()


def _flush_resolution_stats(**kwargs) -> None:
    from apps.mappings.services import resolution_stats_flush

    try:
        resolution_stats_flush(only_if_due=not kwargs.get("final"))
    except Exception:  # a counter must never fail the task or request that just finished
        logging.getLogger(__name__).exception("Could not write identifier resolution counts.")


def _connect_resolution_flush() -> None:
    """Write the process's resolution counts after each task and request (at most every
    RESOLUTION_FLUSH_SECONDS), and the rest when a worker process stops."""
    from celery.signals import task_postrun, worker_process_shutdown
    from django.core.signals import request_finished

    task_postrun.connect(
        _flush_resolution_stats, weak=False, dispatch_uid="mappings.resolution_flush"
    )
    request_finished.connect(
        _flush_resolution_stats, weak=False, dispatch_uid="mappings.resolution_flush"
    )
    worker_process_shutdown.connect(
        lambda **kwargs: _flush_resolution_stats(final=True),
        weak=False,
        dispatch_uid="mappings.resolution_flush",
    )
