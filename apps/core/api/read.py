"""The read-only polling endpoints' common shape (WEBHOOKS.md §4).

Each endpoint is a list view over one selector: the selector applies the app's FilterSet to the
query parameters, the view pages the result with keyset pagination, checks the key's scope
(`required_scope`) and throttles per key. Errors are problem+json through the exception handler.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse
from rest_framework import generics, serializers

from apps.core.api import schema as _schema  # noqa: F401 - registers the Bearer scheme
from apps.core.api.pagination import KeysetPagination
from apps.core.api.throttling import ApiKeyRateThrottle
from apps.core.bounded import text_violations
from apps.core.filters import FilterError


class SelectorFilterBackend(DjangoFilterBackend):
    """Documents the view's `filterset_class` in the schema; the selector already applied it."""

    def filter_queryset(self, request, queryset, view):
        return queryset


class ApiProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = serializers.DictField(required=False, help_text="Messages per query parameter (400).")


PROBLEM = "application/problem+json"

READ_ERROR_RESPONSES = {
    (400, PROBLEM): OpenApiResponse(
        ApiProblemSerializer,
        description="A filter or page size does not parse; `errors` per parameter.",
    ),
    (404, PROBLEM): OpenApiResponse(
        ApiProblemSerializer, description="The cursor is not one we issued."
    ),
    (401, PROBLEM): OpenApiResponse(
        ApiProblemSerializer, description="No, unknown or revoked API key."
    ),
    (403, PROBLEM): OpenApiResponse(
        ApiProblemSerializer, description="The key lacks this endpoint's scope."
    ),
    (429, PROBLEM): OpenApiResponse(
        ApiProblemSerializer,
        description="Too many requests for this key; retry after `Retry-After` seconds.",
    ),
}


class ReadListView(generics.ListAPIView):
    """Subclasses set `required_scope`, `serializer_class`, `filterset_class`, `cursor_ordering`
    and implement `select(filters)` by calling their app's selector."""

    pagination_class = KeysetPagination
    throttle_classes = [ApiKeyRateThrottle]
    filter_backends = [SelectorFilterBackend]
    cursor_ordering = ("created_at", "id")

    def select(self, filters) -> QuerySet:
        raise NotImplementedError

    def get_queryset(self):
        # PostgreSQL refuses NUL in a text parameter: a 400 naming the filter, not a 500. The
        # cursor is opaque: one holding a NUL is simply not one we issued (404, the pagination's).
        nul = text_violations(
            {
                name: "".join(values)
                for name, values in self.request.query_params.lists()
                if name != self.paginator.cursor_query_param
            }
        )
        if nul:
            raise serializers.ValidationError(nul)
        try:
            return self.select(self.request.query_params)
        except FilterError as exc:
            raise serializers.ValidationError(exc.errors) from exc
