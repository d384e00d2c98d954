"""The integration-health dashboard (admin, staff only) and the Prometheus scrape endpoint."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from apps.monitoring.access import metrics_refusal
from apps.monitoring.health import WINDOWS, health_report
from apps.monitoring.metrics import registry
from apps.monitoring.selectors import alerts_for_dashboard, runtime_health
from apps.risk.selectors import risk_figures


def admin_link(name: str, **params) -> str | None:
    """An admin changelist URL with filters, or None when that admin is not installed."""
    try:
        url = reverse(f"admin:{name}_changelist")
    except NoReverseMatch:
        return None
    params = {key: value for key, value in params.items() if value not in (None, "")}
    return f"{url}?{urlencode(params)}" if params else url


def _links(scope, since) -> dict[str, str | None]:
    integration = scope.integration.pk if scope.integration else None
    system = scope.integration.id_system if scope.integration else None
    window = {"received_at__gte": since.strftime("%Y-%m-%d %H:%M:%S%z")}
    return {
        "received": admin_link(
            "integrations_inboundevent", integration__id__exact=integration, **window
        ),
        "processed": admin_link(
            "integrations_inboundevent",
            integration__id__exact=integration,
            status__exact="processed",
            **window,
        ),
        "invalid": admin_link(
            "integrations_deadletterevent",
            integration__id__exact=integration,
            status__exact="invalid",
        ),
        "failing": admin_link(
            "integrations_inboundevent", integration__id__exact=integration, status__exact="failed"
        ),
        "dead": admin_link(
            "integrations_deadletterevent", integration__id__exact=integration, status__exact="dead"
        ),
        "parked": admin_link("integrations_parkedevent", integration__id__exact=integration),
        "pending": admin_link(
            "integrations_inboundevent",
            integration__id__exact=integration,
            status__exact="received",
        ),
        "resolution": admin_link("mappings_resolutionstat", system__exact=system),
        "reconciliation": admin_link(
            "integrations_reconciliationrun", integration__id__exact=integration
        ),
        "outbound": admin_link("integrations_outbounddelivery"),
        "outbound_dead": admin_link("integrations_deaddelivery")
        or admin_link("integrations_outbounddelivery", status__exact="dead"),
    }


# Who reads the health page (README's role table): the Integrations role; superusers too.
HEALTH_PERMISSION = "monitoring.view_inboundhourlystat"


def dashboard(request):
    if not request.user.has_perm(HEALTH_PERMISSION):
        raise PermissionDenied("The integration health page is for the Integrations role.")
    window = request.GET.get("window", "24h")
    if window not in WINDOWS:
        window = "24h"
    report = health_report(window=window)
    scopes = [
        {"scope": scope, "figures": scope.judged(), "links": _links(scope, report.since)}
        for scope in [report.overall, *report.integrations]
    ]
    chart = {
        "labels": [point.hour.strftime("%m-%d %H:00") for point in report.hours],
        "received": [point.received for point in report.hours],
        "processed": [point.processed for point in report.hours],
        "failed": [point.failed for point in report.hours],
        "invalid": [point.invalid for point in report.hours],
        "p95": [point.p95_ms for point in report.hours],
        "miss_rate": [
            float(point.miss_rate) if point.miss_rate is not None else None
            for point in report.hours
        ],
        "deliveries": [point.deliveries for point in report.hours],
        "delivered": [point.delivered for point in report.hours],
    }
    context = {
        **admin.site.each_context(request),
        "title": "Integration health",
        "window": window,
        "windows": list(WINDOWS),
        "report": report,
        "overall": scopes[0],
        "scopes": scopes[1:],
        "chart": chart,
        "alerts": alerts_for_dashboard(),
        "runtime": runtime_health(since=report.since),
        "risk": risk_figures(),
        "risk_link": admin_link("risk_riskcase", status__exact="open"),
        "alerts_link": admin_link("monitoring_alert"),
        "open_alerts_link": admin_link("monitoring_alert", resolved_at__isnull="True"),
    }
    return render(request, "monitoring/dashboard.html", context)


def metrics(request):
    """Prometheus text format, read from the database at scrape time (correct across processes).

    Only for a scraper holding the metrics token, or on an allowed address
    (apps.monitoring.access)."""
    refusal = metrics_refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
