"""Operational endpoints."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from affiliatehub.celery import app as celery_app
from apps.core import db

logger = logging.getLogger("affiliatehub.healthz")

OK, FAILING = "ok", "failing"


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


# Each component's check raises when the component does not answer.
HEALTH_CHECKS: dict[str, Callable[[], None]] = {
    "database": db.database_ping,
    "broker": _check_broker,
}

# The last failure logged per component in this process: a load balancer polls every few
# seconds, so a failure is logged when it starts (or its error changes) and its recovery once.
_logged_failures: dict[str, str] = {}


def _note_failure(component: str, exc: Exception) -> None:
    detail = f"{type(exc).__name__}: {exc}"
    if _logged_failures.get(component) != detail:
        _logged_failures[component] = detail
        logger.warning("Health check %s failing: %s", component, detail)


def _note_success(component: str) -> None:
    if _logged_failures.pop(component, None) is not None:
        logger.info("Health check %s ok again", component)


def component_status(component: str, check: Callable[[], None]) -> str:
    """ "ok" or "failing"; why it fails goes to the server log, never to the client."""
    try:
        check()
    except (
        Exception
    ) as exc:  # any failure of the component is the answer here, not an error of ours
        _note_failure(component, exc)
        return FAILING
    _note_success(component)
    return OK


@require_GET
def healthz(request):
    """Each component "ok" or "failing" and the overall status: 200 when all are ok, else 503.

    The answer carries no internal detail (addresses, error texts): it is public, for load
    balancers; the reason is logged server-side."""
    checks = {name: component_status(name, check) for name, check in HEALTH_CHECKS.items()}
    healthy = all(status == OK for status in checks.values())
    return JsonResponse(
        {"status": OK if healthy else FAILING, "checks": checks}, status=200 if healthy else 503
    )


def favicon(request):
    """Browsers ask for /favicon.ico; ours is static/favicon.svg. Resolved per request, not when
    the URLconf is imported: with the manifest storage (production) the name is only known after
    collectstatic, and `migrate` or `check` (which import the URLconf) run before it."""
    return redirect(static("favicon.svg"), permanent=True)


def permission_denied(request, exception=None):
    """403 as a page that says why and who you are, not a bare "403 Forbidden"."""
    from django.contrib import admin
    from django.shortcuts import render

    user = getattr(request, "user", None)
    roles = (
        list(user.groups.order_by("name").values_list("name", flat=True))
        if user and user.is_authenticated
        else []
    )
    reason = str(exception) if exception and str(exception) else ""
    context = {**admin.site.each_context(request), "reason": reason, "roles": roles}
    return render(request, "403.html", context, status=403)
