"""Admin of the sandbox: the simulated systems (quiet spells), the payment gateway's behaviour
(failure rate, reasons, delay) and the payouts it was asked to make."""

from django.contrib import admin

from apps.sandbox.gateway_models import SandboxGatewayConfig, SandboxGatewayPayout
from apps.sandbox.models import SandboxEndpoint


@admin.register(SandboxEndpoint)
class SandboxEndpointAdmin(admin.ModelAdmin):
    """The simulated systems; `quiet_until` makes one stop sending (the secret is never shown)."""

    list_display = ("slug", "kind", "quiet_until", "updated_at")
    fields = ("slug", "kind", "quiet_until")
    readonly_fields = ("slug", "kind")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SandboxGatewayConfig)
class SandboxGatewayConfigAdmin(admin.ModelAdmin):
    list_display = ("__str__", "hub_url", "integration_slug", "failure_rate", "settle_seconds")

    def has_add_permission(self, request):
        # The single configuration row is made by `sandbox_gateway_setup` (and on first use);
        # asking the database here would cost a query on every admin page (the sidebar).
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SandboxGatewayPayout)
class SandboxGatewayPayoutAdmin(admin.ModelAdmin):
    list_display = (
        "idempotency_key",
        "gateway_reference",
        "amount",
        "currency",
        "status",
        "attempt",
        "requests",
        "payments",
        "failure_code",
        "last_callback_status",
        "created_at",
    )
    list_filter = ("status", "currency", "failure_code")
    search_fields = ("idempotency_key", "reference", "gateway_reference")
    readonly_fields = [f.name for f in SandboxGatewayPayout._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
