"""Admin of the outbound delivery engine: endpoints with their health, deliveries with filters
and their attempts inline, dead letters, alerts. Imported at the bottom of admin.py.

Actions call apps.integrations.outbound.services services (resend, enable/disable, acknowledge)."""

from __future__ import annotations

import datetime as dt
import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.accounts import second_factor
from apps.core.admin_mixins import ReadOnlyAdminMixin
from apps.core.outbound_policy import url_refusal_message
from apps.core.story import admin_url
from apps.integrations.outbound import services as outbound
from apps.integrations.outbound.models import (
    SUBSCRIBER_EVENT_TYPES,
    DeadDelivery,
    DeliveryAttempt,
    EndpointUrlChange,
    OutboundDelivery,
    OutboundEndpoint,
)
from apps.integrations.outbound.retention import archived_delivery_location

HEALTH_WINDOW = dt.timedelta(days=7)


def _pretty(value) -> str:
    return format_html(
        "<pre style='white-space: pre-wrap; margin: 0'>{}</pre>",
        json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True),
    )


# Where a payout goes is shown in full only on the payout approval page (Finance); a gateway
# request's `method` (account, IBAN, wallet, e-mail) and beneficiary are masked here, for every
# role that reads deliveries.
GATEWAY_SENSITIVE_KEYS = frozenset({"method", "beneficiary"})
UNMASKED_KEYS = frozenset({"kind", "affiliate_id", "currency"})


def _mask_text(value: str) -> str:
    if len(value) <= 4:
        return "••••"
    return f"{value[:2]}••••{value[-2:]}"


def _mask(value, key: str = ""):
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str) and key not in UNMASKED_KEYS:
        return _mask_text(value)
    return value


def masked_gateway_payload(payload):
    if not isinstance(payload, dict):
        return payload
    return {k: _mask(v) if k in GATEWAY_SENSITIVE_KEYS else v for k, v in payload.items()}


class EndpointForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in SUBSCRIBER_EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = OutboundEndpoint
        fields = ("name", "kind", "url", "event_types")

    def clean_url(self):
        url = self.cleaned_data["url"]
        error = url_refusal_message(url)
        if error:
            raise forms.ValidationError(error)
        return url


@admin.register(OutboundEndpoint)
class OutboundEndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = (
        "name",
        "kind",
        "url",
        "is_active",
        "success_rate",
        "last_success_at",
        "failing_since",
        "disabled_reason",
    )
    list_filter = ("kind", "is_active")
    search_fields = ("name", "url")
    actions = ("enable_endpoints", "disable_endpoints")
    readonly_fields = (
        "is_active",
        "disabled_reason",
        "disabled_at",
        "failing_since",
        "last_success_at",
        "last_failure_at",
        "health",
    )

    def changelist_view(self, request, extra_context=None):
        self._health = None
        return super().changelist_view(request, extra_context)

    def _health_for(self, request, obj):
        if getattr(self, "_health", None) is None:
            ids = OutboundEndpoint.objects.values_list("pk", flat=True)
            self._health = outbound.endpoint_health(ids, since=timezone.now() - HEALTH_WINDOW)
        return self._health.get(obj.pk)

    @admin.display(description="Success rate (7 days)")
    def success_rate(self, obj):
        health = self._health_for(None, obj)
        if not health or health["success_rate"] is None:
            return "—"
        return f"{health['success_rate']:.0%} of {health['attempts']}"

    @admin.display(description="Health (7 days)")
    def health(self, obj):
        self._health = None
        health = self._health_for(None, obj) or {
            "attempts": 0,
            "successes": 0,
            "success_rate": None,
        }
        rate = "—" if health["success_rate"] is None else f"{health['success_rate']:.1%}"
        return f"{health['successes']} of {health['attempts']} attempts succeeded ({rate})"

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "kind") if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {k: data[k] for k in ("name", "url", "event_types") if k in form.changed_data}
            stored = OutboundEndpoint.objects.get(pk=obj.pk)
            if "url" in changes and stored.kind == OutboundEndpoint.Kind.GATEWAY:
                try:
                    outbound.endpoint_url_change_request(
                        endpoint=stored, url=changes.pop("url"), acting_user=request.user
                    )
                    self.message_user(
                        request,
                        "The gateway's new URL waits for a second person's approval "
                        '("Gateway URL changes"); until then payouts go to the current one.',
                        messages.WARNING,
                    )
                except outbound.OutboundError as exc:
                    self.message_user(request, str(exc), messages.ERROR)
                obj.url = stored.url
            if changes:
                outbound.endpoint_update(endpoint=obj, acting_user=request.user, **changes)
            return
        created = outbound.endpoint_create(
            name=data["name"],
            kind=data["kind"],
            url=data["url"],
            event_types=data.get("event_types") or (),
            acting_user=request.user,
        )
        obj.pk = created.pk
        if created.kind == OutboundEndpoint.Kind.SUBSCRIBER:
            # Shown once, like an integration's secret: the subscriber verifies signatures with it.
            self.message_user(
                request,
                f"Signing secret for {created.name} (shown once): {created.secret}",
                messages.WARNING,
            )

    def save_related(self, request, form, formsets, change):
        pass

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description="Enable selected endpoints (waiting deliveries are sent)",
        permissions=["change"],
    )
    def enable_endpoints(self, request, queryset):
        for endpoint in queryset:
            outbound.endpoint_enable(endpoint=endpoint, acting_user=request.user)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable_endpoints(self, request, queryset):
        count = sum(
            outbound.endpoint_disable(
                endpoint=e, reason=f"Disabled by {request.user}", acting_user=request.user
            )
            for e in queryset
        )
        self.message_user(request, f"{count} endpoint(s) disabled.", messages.SUCCESS)


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = (
        "number",
        "at",
        "response_code",
        "duration_ms",
        "retry_after_seconds",
        "error",
        "response_body",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class _DeliveryAdminBase(admin.ModelAdmin):
    list_display = (
        "id",
        "event_type",
        "endpoint",
        "subject",
        "status",
        "attempts",
        "last_response_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "event_type", "endpoint__kind", "endpoint")
    search_fields = ("subject", "idempotency_key", "message_id")
    list_select_related = ("endpoint",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    inlines = (DeliveryAttemptInline,)
    actions = ("resend",)
    fields = (
        "endpoint",
        "event_type",
        "topic",
        "subject",
        "subject_link",
        "status",
        "method",
        "url",
        "message_id",
        "idempotency_key",
        "headers_pretty",
        "payload_pretty",
        "attempts",
        "next_attempt_at",
        "last_response_code",
        "last_response_body",
        "last_error",
        "created_at",
        "succeeded_at",
        "dead_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Payload")
    def payload_pretty(self, obj):
        if obj.endpoint.kind == OutboundEndpoint.Kind.GATEWAY:
            return _pretty(masked_gateway_payload(obj.payload))
        return _pretty(obj.payload)

    @admin.display(description="About")
    def subject_link(self, obj):
        """A payout request leads back to its payout (found by reference: the payouts app sits
        above this one, so the link goes through the admin's URL, not an import)."""
        if obj.topic != "payout.request" or not obj.subject:
            return "—"
        url = admin_url("payouts.payout", reference=obj.subject)
        return format_html('<a href="{}">Payout {}</a>', url, obj.subject) if url else "—"

    @admin.display(description="Headers")
    def headers_pretty(self, obj):
        return _pretty(obj.headers)

    @admin.action(description="Resend selected deliveries", permissions=["change"])
    def resend(self, request, queryset):
        done, refused = 0, []
        for delivery in queryset.order_by("pk"):
            try:
                outbound.delivery_resend(delivery=delivery, acting_user=request.user)
                done += 1
            except outbound.OutboundError as exc:
                refused.append(str(exc))
        if done:
            self.message_user(
                request, f"{done} deliver(y/ies) queued to be sent again.", messages.SUCCESS
            )
        for reason in refused:
            self.message_user(request, reason, messages.ERROR)


@admin.register(OutboundDelivery)
class OutboundDeliveryAdmin(_DeliveryAdminBase):
    """All deliveries. A delivery whose month was archived is no longer a row: opening its id, or
    searching its idempotency key, says which archive file holds it."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if object_id.isdigit() and not OutboundDelivery.objects.filter(pk=object_id).exists():
            archive = archived_delivery_location(delivery_id=int(object_id))
            if archive is not None:
                self.message_user(
                    request,
                    f"Delivery {object_id} was archived in {archive.path} "
                    f"({archive.month:%Y-%m}, SHA-256 {archive.sha256}).",
                    messages.WARNING,
                )
                return HttpResponseRedirect(
                    reverse("admin:integrations_outbounddelivery_changelist")
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        term = request.GET.get("q", "").strip()
        archive = archived_delivery_location(idempotency_key=term) if term else None
        if archive is not None:
            self.message_user(
                request,
                f"The delivery with idempotency key {term!r} was archived in {archive.path} "
                f"({archive.month:%Y-%m}).",
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)


@admin.register(DeadDelivery)
class DeadDeliveryAdmin(_DeliveryAdminBase):
    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=OutboundDelivery.Status.DEAD)


@admin.register(EndpointUrlChange)
class EndpointUrlChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    # Read-only: requested by changing the endpoint's URL.
    """Requests to re-point the payment gateway, decided by a second person."""

    list_display = (
        "id",
        "endpoint",
        "url_before",
        "url_after",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
    )
    list_filter = ("status",)
    list_select_related = ("endpoint", "requested_by", "decided_by")
    readonly_fields = (
        "endpoint",
        "url_before",
        "url_after",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "reason",
    )
    actions = ("approve_changes", "reject_changes")

    def has_approve_permission(self, request):
        return request.user.has_perm("integrations.approve_endpointurlchange")

    @admin.action(
        description="Approve selected changes (the gateway URL changes now)",
        permissions=["approve"],
    )
    @second_factor.approval_action
    def approve_changes(self, request, queryset):
        self._decide(
            request,
            queryset,
            lambda change: outbound.endpoint_url_change_approve(
                change=change, acting_user=request.user
            ),
            "approved",
        )

    @admin.action(description="Reject selected changes", permissions=["approve"])
    def reject_changes(self, request, queryset):
        self._decide(
            request,
            queryset,
            lambda change: outbound.endpoint_url_change_reject(
                change=change, acting_user=request.user, reason=f"Rejected by {request.user}"
            ),
            "rejected",
        )

    def _decide(self, request, queryset, decide, verb: str) -> None:
        done = 0
        for change in queryset.order_by("pk"):
            try:
                decide(change)
                done += 1
            except outbound.OutboundError as exc:
                self.message_user(request, f"Request {change.pk}: {exc}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} gateway URL change(s) {verb}.", messages.SUCCESS)
