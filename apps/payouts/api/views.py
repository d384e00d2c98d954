"""GET /api/v1/payouts/ (WEBHOOKS.md §4)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema

from apps.core.api.read import READ_ERROR_RESPONSES, ReadListView
from apps.payouts.api.serializers import PAYOUT_EXAMPLE, PayoutReadSerializer
from apps.payouts.filters import PayoutFilter
from apps.payouts.selectors import payout_list


class PayoutListView(ReadListView):
    required_scope = "payouts:read"
    serializer_class = PayoutReadSerializer
    filterset_class = PayoutFilter
    cursor_ordering = ("created_at", "id")

    def select(self, filters):
        return payout_list(filters=filters)

    @extend_schema(
        operation_id="payouts_list",
        summary="List payouts",
        description=(
            "Payouts with their state, amounts and locked exchange rate, in the order they were "
            "created, in "
            "pages linked by `next`. Poll with `created_after` for new payouts; a payout's "
            "`status` and "
            "timestamps change as it moves (subscribe to payout.* webhooks to hear of changes). "
            "Needs `payouts:read`."
        ),
        responses={200: PayoutReadSerializer(many=True), **READ_ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "A completed payout", value=PAYOUT_EXAMPLE, response_only=True, status_codes=["200"]
            )
        ],
        tags=["payouts"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
