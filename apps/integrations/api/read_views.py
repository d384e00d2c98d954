"""GET /api/v1/events/: the inbound event store, for systems that poll us (WEBHOOKS.md §4)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.response import Response

from apps.core.api.problems import problem_response
from apps.core.api.read import PROBLEM, READ_ERROR_RESPONSES, ApiProblemSerializer, ReadListView
from apps.core.api.throttling import ApiKeyRateThrottle
from apps.integrations.api.read_serializers import EVENT_EXAMPLE, InboundEventSerializer
from apps.integrations.filters import InboundEventFilter
from apps.integrations.inbound.public import archived_event_location
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


class InboundEventDetailView(generics.GenericAPIView):
    """GET /api/v1/events/<id>/: one event; 410 naming the archive file once its month was
    archived (docs/operations.md, "Retention and archive")."""

    required_scope = "events:read"
    serializer_class = InboundEventSerializer
    throttle_classes = [ApiKeyRateThrottle]

    @extend_schema(
        operation_id="events_retrieve",
        summary="One inbound event",
        description=(
            "The event with this id. Raw events older than the retention period are archived to "
            "compressed monthly files and removed from the database: such an id answers 410 with "
            "the archive's file name, month and SHA-256. Needs the `events:read` scope."
        ),
        responses={
            200: InboundEventSerializer,
            (410, PROBLEM): OpenApiResponse(
                ApiProblemSerializer,
                description="Archived: `archive` names the file, its month and its SHA-256.",
            ),
            **{k: v for k, v in READ_ERROR_RESPONSES.items() if k[0] != 400},
        },
        parameters=[
            OpenApiParameter("pk", int, OpenApiParameter.PATH, description="The event's id.")
        ],
        tags=["events"],
    )
    def get(self, request, pk: str):
        if not (pk.isascii() and pk.isdigit() and 0 < int(pk) < 2**63):
            return problem_response(404, f"No event {pk[:40]!r}: event ids are positive integers.")
        pk = int(pk)
        event = inbound_event_list().filter(pk=pk).first()
        if event is not None:
            return Response(self.get_serializer(event).data)
        archive = archived_event_location(event_id=pk)
        if archive is None:
            return problem_response(404, f"No event {pk}.")
        return problem_response(
            410,
            f"Event {pk} was archived in {archive.path}.",
            slug="archived",
            archive={
                "file": archive.path,
                "month": f"{archive.month:%Y-%m}",
                "sha256": archive.sha256,
            },
        )
