"""GET /api/v1/events/: the inbound event store, for systems that poll us (WEBHOOKS.md §4)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema

from apps.core.api.read import READ_ERROR_RESPONSES, ReadListView
from apps.integrations.api.read_serializers import EVENT_EXAMPLE, InboundEventSerializer
from apps.integrations.filters import InboundEventFilter
from apps.integrations.selectors import inbound_event_list


class InboundEventListView(ReadListView):
    required_scope = "events:read"
    serializer_class = InboundEventSerializer
    filterset_class = InboundEventFilter
    cursor_ordering = ("received_at", "id")

    def select(self, filters):
        return inbound_event_list(filters=filters)

    @extend_schema(
        operation_id="events_list",
        summary="List inbound events",
        description=(
            "Every event AffiliateHub received (webhook, batch, poll, replay), oldest first, in "
            "pages "
            "linked by `next`. The cursor is stable: rows inserted between two page fetches are "
            "neither "
            "skipped nor repeated; events younger than a couple of seconds appear on a later call. "
            "Needs the `events:read` scope."
        ),
        responses={200: InboundEventSerializer(many=True), **READ_ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "A deposit event",
                value=EVENT_EXAMPLE,
                response_only=True,
                status_codes=["200"],
            )
        ],
        tags=["events"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
