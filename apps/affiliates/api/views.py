"""GET /api/v1/affiliates/ (WEBHOOKS.md §4)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema

from apps.affiliates.api.serializers import AFFILIATE_EXAMPLE, AffiliateReadSerializer
from apps.affiliates.filters import AffiliateFilter
from apps.affiliates.selectors import affiliate_list
from apps.core.api.read import READ_ERROR_RESPONSES, ReadListView


class AffiliateListView(ReadListView):
    required_scope = "affiliates:read"
    serializer_class = AffiliateReadSerializer
    filterset_class = AffiliateFilter
    cursor_ordering = ("created_at", "id")

    def select(self, filters):
        return affiliate_list(filters=filters)

    @extend_schema(
        operation_id="affiliates_list",
        summary="List affiliates",
        description="Affiliates in the order they were created, in pages linked by `next`. Needs "
        "`affiliates:read`.",
        responses={200: AffiliateReadSerializer(many=True), **READ_ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "An affiliate", value=AFFILIATE_EXAMPLE, response_only=True, status_codes=["200"]
            )
        ],
        tags=["affiliates"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
