"""Shared fixtures. Factories live in tests/factories.py."""

import os

import pytest
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from apps.core.services import apikey_create

# CI runs every property test with a fixed seed, so a red run can be reproduced exactly
# (`CI=true make test`); locally each run explores new examples.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def api_key_factory(db):
    """Make an API client authenticated with a key carrying the given scopes."""

    def make(*scopes: str, name: str | None = None) -> APIClient:
        issued = apikey_create(
            name=name or f"test-{len(scopes)}-{'-'.join(scopes) or 'none'}", scopes=list(scopes)
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
        return client

    return make


@pytest.fixture(autouse=True)
def _fresh_resolution_counts():
    """Identifier lookups are counted in process memory until flushed: each test starts at zero."""
    from apps.mappings import services

    with services._resolution_lock:
        services._resolution_pending.clear()
    yield


class PartitionRequests(list):
    """(table, month) pairs writers asked the `core.partition_ensure` task for after commit."""

    def run(self) -> list[bool]:
        """Run the task for each request, as a worker would; True where it made the month."""
        from apps.core import tasks as core_tasks

        made = [core_tasks.partition_ensure(table, month) for table, month in self]
        self.clear()
        return made


@pytest.fixture
def partition_requests(monkeypatch):
    """Record the months writers ask for (apps.core.partitions.partitions_ensure_for inside a
    transaction) instead of publishing them; `.run()` makes them."""
    from apps.core import tasks as core_tasks

    requests = PartitionRequests()
    monkeypatch.setattr(
        core_tasks.partition_ensure,
        "apply_async",
        lambda args, **options: requests.append(tuple(args)),
    )
    return requests
