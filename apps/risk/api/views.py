"""GET /api/v1/risk-cases/ (WEBHOOKS.md §4), under the `risk:read` scope."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema

from apps.core.api.read import READ_ERROR_RESPONSES, ReadListView
from apps.risk.api.serializers import RISK_CASE_EXAMPLE, RiskCaseReadSerializer
from apps.risk.filters import RiskCaseFilter
from apps.risk.selectors import held_amounts, risk_case_list


class RiskCaseListView(ReadListView):
    required_scope = "risk:read"
    serializer_class = RiskCaseReadSerializer
    filterset_class = RiskCaseFilter
    cursor_ordering = ("opened_at", "id")

    def select(self, filters):
        return risk_case_list(filters=filters)

    def get_serializer(self, *args, **kwargs):
        # One query for the held amounts of the whole page (no per-case query).
        if args and isinstance(args[0], list):
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["held"] = held_amounts([case.pk for case in args[0]])
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        operation_id="risk_cases_list",
        summary="List risk cases",
        description=(
            "Fraud cases: the affiliate, the players, the signals with their evidence (shared "
            "identity values masked), the score, the status (open, escalated, cleared, confirmed) "
            "and the commission the case holds now, in the order they were opened, in pages linked "
            "by `next`. Needs `risk:read`."
        ),
        responses={200: RiskCaseReadSerializer(many=True), **READ_ERROR_RESPONSES},
        examples=[
            OpenApiExample(
                "An open case", value=RISK_CASE_EXAMPLE, response_only=True, status_codes=["200"]
            )
        ],
        tags=["risk"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
