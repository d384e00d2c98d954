import pytest

from apps.mappings.models import IdentifierMapping
from apps.players.models import Player
from tests.factories import IdentifierMappingFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/registrations/"
SCOPE = "registrations:write"


def body(**overrides):
    return {
        "registered_at": "2026-11-20T09:30:00Z",
        "country": "de",
        "brand": "spinpalace",
        "identifiers": {"crm": "C-1", "mt5-live": "800123"},
    } | overrides


@pytest.fixture
def client_with_scope(api_key_factory):
    return api_key_factory(SCOPE)


def test_201_creates_attributed_player(client_with_scope, licensed_de, click):
    response = client_with_scope.post(URL, body(tracking_token=click.token), format="json")
    assert response.status_code == 201, response.content
    player = Player.objects.get()
    assert response.json() == {
        "player_id": player.pk,
        "created": True,
        "attribution_status": "attributed",
        "attribution_note": f"click #{click.pk} on link {click.link.code}",
        "affiliate_id": click.link.affiliate_id,
        "campaign_id": click.link.campaign_id,
        "identifiers": {"crm": "C-1", "mt5-live": "800123"},
    }
    assert player.country == "DE" and player.sub1 == "fb"


def test_200_for_the_same_registration_again(client_with_scope, licensed_de):
    first = client_with_scope.post(URL, body(), format="json")
    second = client_with_scope.post(URL, body(), format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["player_id"] == first.json()["player_id"]
    assert second.json()["created"] is False
    assert Player.objects.count() == 1


def test_organic_and_geo_blocked(client_with_scope, licensed_de):
    organic = client_with_scope.post(URL, body(tracking_token="nope"), format="json").json()
    assert (
        organic["attribution_status"],
        organic["attribution_note"],
        organic["affiliate_id"],
    ) == ("organic", "unknown tracking token", None)
    blocked = client_with_scope.post(
        URL, body(country="FR", identifiers={"crm": "C-2"}), format="json"
    ).json()
    assert blocked["attribution_status"] == "geo_blocked" and blocked["campaign_id"] is None


def test_409_when_an_identifier_belongs_to_another_player(client_with_scope, licensed_de):
    IdentifierMappingFactory(system="crm", external_id="C-1")
    response = client_with_scope.post(URL, body(), format="json")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 409 and problem["type"].endswith("/identifier-conflict")
    assert problem["conflicts"] == [{"system": "crm", "external_id": "C-1"}]
    assert not IdentifierMapping.objects.filter(system="mt5-live").exists()


def test_400_lists_field_errors(client_with_scope, licensed_de):
    response = client_with_scope.post(
        URL, {"country": "Germany", "identifiers": {}, "registered_at": "yesterday"}, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert set(errors) == {"country", "identifiers", "registered_at", "brand"}
    assert not Player.objects.exists()


def test_400_for_bad_identifier_system_and_malformed_json(client_with_scope, licensed_de):
    response = client_with_scope.post(URL, body(identifiers={"CRM!": "1"}), format="json")
    assert response.status_code == 400 and "identifiers" in response.json()["errors"]
    response = client_with_scope.generic("POST", URL, "{not json", content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"


def test_401_without_or_with_unknown_key(api_client, licensed_de):
    assert api_client.post(URL, body(), format="json").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION="Bearer ahk_wrong")
    response = api_client.post(URL, body(), format="json")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"
    assert not Player.objects.exists()


def test_403_for_key_without_the_scope(api_key_factory, licensed_de):
    response = api_key_factory("players:read").post(URL, body(), format="json")
    assert response.status_code == 403
    assert "registrations:write" in response.json()["detail"]
    assert not Player.objects.exists()


def test_registration_source_names_the_api_key(api_key_factory, licensed_de):
    api_key_factory(SCOPE, name="crm-prod").post(URL, body(), format="json")
    assert IdentifierMapping.objects.filter(source="api:crm-prod").count() == 2


def test_schema_documents_the_endpoint(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/registrations/"]["post"]
    assert set(operation["responses"]) == {"200", "201", "400", "401", "403", "409"}
    assert operation["operationId"] == "registrations_create"
    request_schema = operation["requestBody"]["content"]["application/json"]
    assert "examples" in request_schema


# --- bounded input (issue 11): refused with a 400 naming the field, before anything is stored


def test_a_registration_nested_1000_deep_is_a_400_naming_the_field(client_with_scope):
    raw = (
        '{"registered_at": "2026-11-20T09:30:00Z", "country": "DE", "brand": "spinpalace", '
        '"identifiers": {"crm": "C-1"}, "extra": ' + "[" * 1000 + "]" * 1000 + "}"
    )
    response = client_with_scope.generic("POST", URL, raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    [(field, messages)] = response.json()["errors"].items()
    assert field.startswith("extra.0.0") and "Nested deeper than" in messages[0]
    assert not Player.objects.exists()


def test_a_registration_deeper_than_the_parser_reads_is_a_400(client_with_scope):
    raw = '{"extra": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client_with_scope.generic("POST", URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"identifiers": {"cr\u0000m": "C-1"}}, "identifiers.cr\\u0000m"),
        ({"identifiers": {"crm": "C\u00001"}}, "identifiers.crm"),
        ({"brand": "spin\u0000palace"}, "brand"),
    ],
)
def test_a_nul_in_a_registration_is_a_400_naming_the_field(client_with_scope, overrides, field):
    response = client_with_scope.post(URL, body(**overrides), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert not Player.objects.exists()


def test_a_tracking_token_longer_than_its_column_is_a_400(client_with_scope, licensed_de):
    response = client_with_scope.post(URL, body(tracking_token="t" * 65), format="json")
    assert response.status_code == 400
    assert "tracking_token" in response.json()["errors"]
