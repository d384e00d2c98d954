"""GET /api/v1/players/ (WEBHOOKS.md §4): the endpoint's shape.

Mounted by apps/retention/api with the retention FilterSet (its filters need KYC and
self-exclusion, above this layer); `select` here is the plain player list.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema

from apps.core.api.read import READ_ERROR_RESPONSES, ReadListView
from apps.players.api.serializers import PLAYER_EXAMPLE, PlayerReadSerializer
from apps.players.filters import PlayerFilter
from apps.players.selectors import player_list


class PlayerListView(ReadListView):
    required_scope = "players:read"
    serializer_class = PlayerReadSerializer
    filterset_class = PlayerFilter
    cursor_ordering = ("created_at", "id")

    def select(self, filters):
        return player_list(filters=filters)

    @extend_schema(
        operation_id="players_list",
        summary="List players",
        description=(
            "Players with their attribution, in the order they were recorded, in pages linked by "
            "`next` "
            "(stable under concurrent inserts). Needs the `players:read` scope."
        ),
        responses={200: PlayerReadSerializer(many=True), **READ_ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "An attributed player",
                value=PLAYER_EXAMPLE,
                response_only=True,
                status_codes=["200"],
            )
        ],
        tags=["players"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
