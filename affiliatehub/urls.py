from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.affiliates.views import track_click
from apps.core.views import favicon, healthz
from apps.monitoring import views as monitoring_views
from apps.retention import views as retention_views

admin.site.site_header = "AffiliateHub"
admin.site.site_title = "AffiliateHub"
admin.site.index_title = "Back office"
admin.site.site_url = "/"  # "View site": the landing page

handler403 = "apps.core.views.permission_denied"

api_v1 = [
    # Each app contributes its own api/urls.py here.
    path("", include("apps.integrations.api.urls")),
    path("", include("apps.integrations.api.read_urls")),
    path("", include("apps.postbacks.api.urls")),  # registrations (and their announcement)
    path("", include("apps.retention.api.urls")),  # players, with the retention filters
    path("", include("apps.affiliates.api.urls")),
    path("", include("apps.commissions.api.urls")),
    path("", include("apps.payouts.api.urls")),
    path("", include("apps.risk.api.urls")),
]

urlpatterns = [
    path("", TemplateView.as_view(template_name="core/landing.html"), name="landing"),
    path("favicon.ico", favicon),
    path(
        "admin/health/",
        admin.site.admin_view(monitoring_views.dashboard),
        name="monitoring-dashboard",
    ),
    path(
        "admin/retention/cohorts/",
        admin.site.admin_view(retention_views.cohorts),
        name="retention-cohorts",
    ),
    path("admin/account/", include("apps.accounts.urls")),  # second factor: enrol, enter a code
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("metrics", monitoring_views.metrics, name="metrics"),
    path("t/<str:link_code>/", track_click, name="track-click"),
    path("sandbox/poll/", include("apps.sandbox.poll_urls")),
    path("sandbox/gateway/", include("apps.sandbox.gateway_urls")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
