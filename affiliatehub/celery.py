"""The Celery application. Settings come from Django settings with the CELERY_ prefix."""

import gc
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "affiliatehub.settings.local")

app = Celery("affiliatehub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _freeze_startup_objects(**kwargs) -> None:
    """The worker child's modules and settings live as long as it does: keep them out of the
    cyclic collector's generations (shorter pauses while processing, as in wsgi.py)."""
    gc.freeze()
