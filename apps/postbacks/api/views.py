"""`POST /api/v1/registrations/`: registration-time enrichment (WEBHOOKS.md §3).

The registration is mappings' (`player_register`); this door lives here, above it, because a new
attributed player is announced in the same transaction (`player.attributed`, the registration
postback): `apps.postbacks.services.player_register_announced`."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.problems import problem_response
from apps.core.bounded import MAX_JSON_DEPTH
from apps.mappings.services import IdentifierConflict, RegistrationInvalid
from apps.postbacks.api.serializers import (
    ProblemSerializer,
    RegistrationRequestSerializer,
    RegistrationResponseSerializer,
)
from apps.postbacks.services import player_register_announced

_REQUEST_EXAMPLE = {
    "tracking_token": "q3J8m2k1Zx9XbV0cT5nR7wLa4sYd6PfE",
    "registered_at": "2026-11-27T10:15:00Z",
    "country": "DE",
    "brand": "spinpalace",
    "identifiers": {"crm": "C-100234", "mt5-live": "800123"},
}
_RESPONSE_EXAMPLE = {
    "player_id": 4711,
    "created": True,
    "attribution_status": "attributed",
    "attribution_note": "click #981 on link k7m2q9xa",
    "affiliate_id": 12,
    "campaign_id": 31,
    "identifiers": {"crm": "C-100234", "mt5-live": "800123"},
}


class RegistrationView(APIView):
    """Create a player with its attribution and identifier mappings."""

    required_scope = "registrations:write"

    @extend_schema(
        operation_id="registrations_create",
        summary="Register a player",
        description=(
            "Creates the player, its attribution (from the click's tracking token; organic without "
            "one; "
            "geo_blocked when the brand is not licensed in the country) and its identifier "
            "mappings, in "
            "one transaction. Sending the same registration again answers 200 with the same "
            "player. "
            "Needs an API key with the `registrations:write` scope. A body nested deeper than "
            f"{MAX_JSON_DEPTH} levels, or holding a NUL character (\\u0000) anywhere, is refused "
            "with 400 "
            "naming the field."
        ),
        request=RegistrationRequestSerializer,
        responses={
            201: OpenApiResponse(RegistrationResponseSerializer, description="Player created."),
            200: OpenApiResponse(
                RegistrationResponseSerializer, description="Already registered: the same player."
            ),
            (400, "application/problem+json"): OpenApiResponse(
                ProblemSerializer, description="Invalid body; `errors` per field."
            ),
            (401, "application/problem+json"): OpenApiResponse(
                ProblemSerializer, description="No or unknown API key."
            ),
            (403, "application/problem+json"): OpenApiResponse(
                ProblemSerializer, description="The key lacks `registrations:write`."
            ),
            (409, "application/problem+json"): OpenApiResponse(
                ProblemSerializer, description="An identifier belongs to another player."
            ),
        },
        examples=[
            OpenApiExample("Attributed registration", value=_REQUEST_EXAMPLE, request_only=True),
            OpenApiExample(
                "Created", value=_RESPONSE_EXAMPLE, response_only=True, status_codes=["201"]
            ),
            OpenApiExample(
                "Identifier conflict",
                value={
                    "type": "https://affiliatehub.dev/problems/identifier-conflict",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "Some identifiers already belong to another player: crm:C-100234",
                    "conflicts": [{"system": "crm", "external_id": "C-100234"}],
                },
                response_only=True,
                status_codes=["409"],
            ),
        ],
        tags=["registrations"],
    )
    def post(self, request):
        serializer = RegistrationRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            result = player_register_announced(
                tracking_token=data.get("tracking_token"),
                registered_at=data["registered_at"],
                country=data["country"],
                brand=data["brand"],
                identifiers=data["identifiers"],
                source=f"api:{request.auth.name}",
            )
        except IdentifierConflict as exc:
            return problem_response(
                409,
                str(exc),
                slug="identifier-conflict",
                conflicts=[
                    {"system": system, "external_id": external_id}
                    for system, external_id in exc.conflicts
                ],
            )
        except RegistrationInvalid as exc:
            return problem_response(400, str(exc), slug="invalid-registration")
        player = result.player
        body = RegistrationResponseSerializer(
            {
                "player_id": player.pk,
                "created": result.created,
                "attribution_status": player.attribution_status,
                "attribution_note": player.attribution_note,
                "affiliate_id": player.affiliate_id,
                "campaign_id": player.campaign_id,
                "identifiers": dict(sorted(data["identifiers"].items())),
            }
        ).data
        return Response(
            body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        )
