"""Second-factor devices in the admin: listed and removed (a lost phone), never read or made
here. The secret key and its QR code stay with the user who enrolled; removal is audited."""

from __future__ import annotations

from django.contrib import admin, messages
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts import services


class SecondFactorDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields
    actions = ("remove_devices",)

    def has_add_permission(self, request):
        return False  # users enrol themselves, at the next sign-in

    def has_change_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # removal goes through the audited action
        return actions

    def delete_model(self, request, obj):
        services.second_factor_remove(device=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset):
        for device in queryset:
            services.second_factor_remove(device=device, acting_user=request.user)

    @admin.action(
        description="Remove selected devices (the user enrols again)", permissions=["delete"]
    )
    def remove_devices(self, request, queryset):
        self.delete_queryset(request, queryset)
        self.message_user(
            request,
            "Removed; each user enrols a new authenticator app at the next sign-in.",
            messages.SUCCESS,
        )


for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, SecondFactorDeviceAdmin)
