"""GET /api/v1/commissions/ and /api/v1/statements/ (WEBHOOKS.md §4)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema

from apps.commissions.api.serializers import (
    COMMISSION_EXAMPLE,
    STATEMENT_EXAMPLE,
    CommissionEntryReadSerializer,
    StatementReadSerializer,
)
from apps.commissions.filters import CommissionEntryFilter, StatementFilter
from apps.commissions.selectors import commission_entry_list, statement_list
from apps.core.api.read import READ_ERROR_RESPONSES, ReadListView


class CommissionEntryListView(ReadListView):
    required_scope = "commissions:read"
    serializer_class = CommissionEntryReadSerializer
    filterset_class = CommissionEntryFilter
    cursor_ordering = ("created_at", "id")

    def select(self, filters):
        return commission_entry_list(filters=filters)

    @extend_schema(
        operation_id="commissions_list",
        summary="List commission ledger lines",
        description=(
            "The commission ledger: one immutable line per fact, affiliate and kind (corrections "
            "are new "
            "lines pointing at what they correct), in the order they were booked, in pages linked "
            "by `next` "
            "(stable under concurrent inserts). Only `status` ever changes on a line. Needs "
            "`commissions:read`."
        ),
        responses={200: CommissionEntryReadSerializer(many=True), **READ_ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "An approved CPA line",
                value=COMMISSION_EXAMPLE,
                response_only=True,
                status_codes=["200"],
            )
        ],
        tags=["commissions"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class StatementListView(ReadListView):
    required_scope = "statements:read"
    serializer_class = StatementReadSerializer
    filterset_class = StatementFilter
    cursor_ordering = ("created_at", "id")

    def select(self, filters):
        return statement_list(filters=filters)

    @extend_schema(
        operation_id="statements_list",
        summary="List statements",
        description=(
            "Statements built by the period close (one per affiliate, period and currency) with "
            "their lines, "
            "in the order they were created, in pages linked by `next`. Needs `statements:read`."
        ),
        responses={200: StatementReadSerializer(many=True), **READ_ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "An approved statement",
                value=STATEMENT_EXAMPLE,
                response_only=True,
                status_codes=["200"],
            )
        ],
        tags=["statements"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
