"""The retention cohort report (admin, /admin/retention/cohorts/): churn and reactivation by
registration month, per affiliate versus organic."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from apps.retention import selectors

# Who reads the report (README's role table): Retention and Finance; superusers too.
COHORTS_PERMISSION = "retention.view_retentionplayer"


def cohorts(request):
    """Churn and reactivation by registration month, per affiliate versus organic."""
    if not request.user.has_perm(COHORTS_PERMISSION):
        raise PermissionDenied(
            "The retention cohort report is for the Retention and Finance roles."
        )
    rows = selectors.cohorts()
    months = sorted({row.month for row in rows})
    groups = sorted({row.group for row in rows}, key=lambda g: (g != "organic", g))
    by_key = {(row.month, row.group): row for row in rows}
    chart = {
        "labels": [m.strftime("%Y-%m") for m in months],
        "series": [
            {
                "group": g,
                "churn": [_float(by_key.get((m, g)), "churn_rate") for m in months],
                "reactivation": [_float(by_key.get((m, g)), "reactivation_rate") for m in months],
            }
            for g in groups
        ],
    }
    context = {
        **admin.site.each_context(request),
        "title": "Retention cohorts",
        "rows": rows,
        "days": selectors.churn_days(),
        "chart": chart,
    }
    return render(request, "retention/cohorts.html", context)


def _float(row, name):
    value = getattr(row, name) if row else None
    return float(value) if value is not None else None
