"""RFC 9457 problem details for every API error (WEBHOOKS.md §1)."""

from __future__ import annotations

from django.http import JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://affiliatehub.dev/problems/"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_body(
    status_code: int, detail: str, *, slug: str | None = None, errors=None, **extra
) -> dict:
    body = {
        "type": PROBLEM_BASE + (slug or str(status_code)),
        "title": _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    return body


def problem_response(
    status_code: int, detail: str, *, slug=None, errors=None, headers=None, **extra
) -> Response:
    """A DRF response carrying a problem document."""
    return Response(
        problem_body(status_code, detail, slug=slug, errors=errors, **extra),
        status=status_code,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def problem_json_response(
    status_code: int, detail: str, *, slug=None, errors=None, **extra
) -> JsonResponse:
    """A plain Django response carrying a problem document (for non-DRF views)."""
    return JsonResponse(
        problem_body(status_code, detail, slug=slug, errors=errors, **extra),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _flatten(detail) -> str:
    if isinstance(detail, list):
        return " ".join(_flatten(d) for d in detail)
    if isinstance(detail, dict):
        return " ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    return str(detail)


def problem_exception_handler(exc, context):
    """DRF's handler, reshaped into problem+json; validation errors keep per-field detail."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    errors = None
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        detail = "The request is invalid; see errors."
    else:
        detail = _flatten(
            response.data.get("detail", response.data)
            if isinstance(response.data, dict)
            else response.data
        )
    code = response.status_code
    if isinstance(exc, exceptions.ParseError):
        code = status.HTTP_400_BAD_REQUEST
    headers = {
        k: v for k, v in response.items() if k in ("Retry-After", "WWW-Authenticate", "Allow")
    }
    return problem_response(code, detail, errors=errors, headers=headers)
