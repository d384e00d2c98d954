"""Schemathesis against our own OpenAPI schema: every documented operation, generated requests
(valid and invalid), authenticated with a key holding every scope. No 5xx, and every response
must match the schema (status code, content type, headers, body)."""

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from affiliatehub.wsgi import application
from apps.core.models import ApiKey
from apps.core.services import apikey_create


@pytest.fixture
def api_schema(db):
    # Like Django's test client: keep the test's connection (and transaction) across requests.
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def bearer(db):
    issued = apikey_create(name="schemathesis", scopes=[scope for scope, _ in ApiKey.Scope.choices])
    return {"Authorization": f"Bearer {issued.plaintext}"}


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case, bearer):
    # Known gaps in the registration schema (apps/mappings), not in its behaviour: DRF's CharField
    # turns numbers into strings (schema-violating numbers accepted) and `identifiers` must not be
    # empty, which the generated schema does not say (minProperties).
    lenient = case.operation.path == "/api/v1/registrations/"
    excluded = [negative_data_rejection, positive_data_acceptance] if lenient else []
    # A real key where the case sends credentials; none where it tests their absence.
    headers = bearer if "Authorization" in (case.headers or {}) else {}
    case.call_and_validate(headers=headers, excluded_checks=excluded)
