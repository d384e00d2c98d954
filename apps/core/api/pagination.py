"""Keyset ("cursor") pagination for the polling endpoints (WEBHOOKS.md §4).

Rows are walked in ascending `(timestamp, id)` order. The opaque cursor carries the last row's
pair, so the next page is `WHERE (ts, id) > (cursor ts, cursor id)`: an index range scan whose
cost does not grow with depth, and that neither skips nor repeats rows when others are inserted
between two page fetches (new rows sort after the ones already served). Timestamps alone would
not do: a batch stores thousands of events with the same `received_at`.

Inserts that commit late are the remaining hazard: a row gets its timestamp (and id) before its
transaction commits, so a reader could pass it while it is still invisible. Rows younger than
AFFILIATEHUB_API_SETTLE_SECONDS are therefore held back until every transaction that could
still commit an older timestamp has finished; a poller sees them on its next call.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections import OrderedDict

import orjson
from django.db.models import Q, QuerySet
from django.utils import timezone
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from apps.core import conf

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def settle_seconds() -> float:
    return conf.number("AFFILIATEHUB_API_SETTLE_SECONDS")


def encode_cursor(timestamp: dt.datetime, pk: int) -> str:
    raw = orjson.dumps({"t": timestamp.isoformat(), "i": pk})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[dt.datetime, int]:
    """(timestamp, id) from a cursor; ValueError when it is not one of ours."""
    try:
        padded = value + "=" * (-len(value) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        timestamp = dt.datetime.fromisoformat(data["t"])
        pk = data["i"]
    except (
        ValueError,
        TypeError,
        KeyError,
        UnicodeError,
        binascii.Error,
        orjson.JSONDecodeError,
    ) as exc:
        raise ValueError("not a cursor") from exc
    if (
        timezone.is_naive(timestamp)
        or not isinstance(pk, int)
        or isinstance(pk, bool)
        or not 0 < pk < 2**63
    ):
        raise ValueError("not a cursor")
    return timestamp, pk


class KeysetPagination(BasePagination):
    """Forward-only keyset pagination on the view's `cursor_ordering = ("<timestamp>", "id")`.

    Answers `{"next": <url or null>, "results": [...]}`; `next` is null on the last page. Keep
    the last `next` you followed (or the last row's position) to resume later.
    """

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def paginate_queryset(self, queryset: QuerySet, request, view=None):
        timestamp_field, id_field = view.cursor_ordering
        self.page_size = self._page_size(request)
        self.base_url = request.build_absolute_uri()
        queryset = queryset.order_by(timestamp_field, id_field)
        settle = settle_seconds()
        if settle > 0:
            queryset = queryset.filter(
                **{f"{timestamp_field}__lte": timezone.now() - dt.timedelta(seconds=settle)}
            )
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded:
            try:
                after_ts, after_id = decode_cursor(encoded)
            except ValueError:
                # As DRF's CursorPagination: a cursor we never issued points nowhere.
                raise NotFound("Invalid cursor: use a `next` link from a previous page.") from None
            # The redundant `>=` lets PostgreSQL range-scan the timestamp index.
            queryset = queryset.filter(**{f"{timestamp_field}__gte": after_ts}).filter(
                Q(**{f"{timestamp_field}__gt": after_ts}) | Q(**{f"{id_field}__gt": after_id})
            )
        rows = list(queryset[: self.page_size + 1])
        self.has_next = len(rows) > self.page_size
        rows = rows[: self.page_size]
        self.last = (
            (getattr(rows[-1], timestamp_field), getattr(rows[-1], id_field)) if rows else None
        )
        return rows

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return DEFAULT_PAGE_SIZE
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise serializers.ValidationError(
                {self.page_size_query_param: [f"Use a whole number from 1 to {MAX_PAGE_SIZE}."]}
            )
        return size

    def get_next_link(self) -> str | None:
        if not self.has_next or self.last is None:
            return None
        return replace_query_param(
            self.base_url, self.cursor_query_param, encode_cursor(*self.last)
        )

    def get_paginated_response(self, data):
        return Response(OrderedDict([("next", self.get_next_link()), ("results", data)]))

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page; null on the last page.",
                    "example": "https://affiliatehub.example/api/v1/events/?cursor=eyJ0IjoiMjAyNi0xMS0yN1QxMDoxNTowMCswMDowMCIsImkiOjQyfQ",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a previous page's `next` link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default "
                f"{DEFAULT_PAGE_SIZE}).",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_PAGE_SIZE,
                    "default": DEFAULT_PAGE_SIZE,
                },
            },
        ]
