"""Who may read /metrics: a bearer token when one is configured, else an address allow-list."""

from __future__ import annotations

import secrets

from django.http import HttpRequest, JsonResponse

from apps.core import conf
from apps.core.addresses import address_allowed, client_address, parse_networks
from apps.core.api.problems import problem_json_response

BEARER = "Bearer"


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return token.strip() if scheme == BEARER and token.strip() else None


def _token_matches(presented: str | None, expected: str) -> bool:
    # Constant time: the comparison must not tell how much of a guess was right.
    return presented is not None and secrets.compare_digest(presented.encode(), expected.encode())


def metrics_refusal(request: HttpRequest) -> JsonResponse | None:
    """None when the request may read the metrics, else the 401 problem to answer."""
    token = conf.text("AFFILIATEHUB_METRICS_TOKEN")
    if token:
        if _token_matches(_bearer_token(request), token):
            return None
        return _unauthorized(
            "Send 'Authorization: Bearer <metrics token>' with the configured metrics token."
        )
    networks = parse_networks(conf.items("AFFILIATEHUB_METRICS_ALLOWED_IPS"))
    if address_allowed(client_address(request), networks):
        return None
    return _unauthorized(
        "The metrics are open only to allowed addresses when no metrics token is configured; "
        "configure a token and send 'Authorization: Bearer <metrics token>'."
    )


def _unauthorized(detail: str) -> JsonResponse:
    response = problem_json_response(401, detail, slug="metrics-unauthorized")
    response["WWW-Authenticate"] = f'{BEARER} realm="metrics"'
    return response
