"""Operational endpoints."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from affiliatehub.celery import app as celery_app


def _database_ok() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


def _broker_ok() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True, "ok"
    except Exception as exc:
        return False, f"{type(exc).__name__}: {exc}"


@require_GET
def healthz(request):
    """Database and broker reachability: 200 when both answer, else 503."""
    db_ok, db_detail = _database_ok()
    broker_ok, broker_detail = _broker_ok()
    healthy = db_ok and broker_ok
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": {
                "database": {"ok": db_ok, "detail": db_detail},
                "broker": {"ok": broker_ok, "detail": broker_detail},
            },
        },
        status=200 if healthy else 503,
    )


def permission_denied(request, exception=None):
    """403 as a page that says why and who you are, not a bare "403 Forbidden"."""
    from django.contrib import admin
    from django.shortcuts import render

    user = getattr(request, "user", None)
    roles = list(user.groups.order_by("name").values_list("name", flat=True)) if user and user.is_authenticated else []
    reason = str(exception) if exception and str(exception) else ""
    context = {**admin.site.each_context(request), "reason": reason, "roles": roles}
    return render(request, "403.html", context, status=403)
