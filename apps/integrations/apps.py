from django.apps import AppConfig
from django.core import checks


class IntegrationsConfig(AppConfig):
    name = "apps.integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        checks.register(check_retry_below_visibility_timeout)


def check_retry_below_visibility_timeout(app_configs=None, **kwargs):
    """A retry countdown at or above the broker's visibility timeout gets redelivered early."""
    from django.conf import settings

    from apps.integrations import conf

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
