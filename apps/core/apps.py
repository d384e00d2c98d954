from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self):
        from django.core import checks
        from django.core.signals import request_finished, request_started

        from apps.core import tasks  # noqa: F401 - registers core's Celery tasks
        from apps.core.checks import check_address_allow_lists, check_no_nested_settings
        from apps.core.db import connections_note_used, connections_skip_fresh_health_checks

        # Connected after django.db's close_old_connections, so they run after it.
        request_started.connect(
            connections_skip_fresh_health_checks, dispatch_uid="core.fresh_connections"
        )
        request_finished.connect(connections_note_used, dispatch_uid="core.fresh_connections")
        checks.register(check_address_allow_lists)
        checks.register(check_no_nested_settings)
