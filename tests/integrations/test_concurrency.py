"""Two deliveries of the same webhook id at the same moment, on real PostgreSQL."""

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from apps.integrations.accounts import integration_create
from apps.integrations.inbound import dispatch
from apps.integrations.models import InboundEvent

from .conftest import load_fixture, sign


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_store_one_event(monkeypatch):
    monkeypatch.setattr(dispatch, "_publish", lambda *args, **kwargs: None)
    integration, secret = integration_create(slug="race", kind="crm")
    body = json.dumps(load_fixture("deposit_created.json")).encode()

    for round_number in range(5):
        webhook_id = f"msg_race_{round_number}"
        now = int(time.time())
        signature = sign(secret, webhook_id, now, body)
        barrier = threading.Barrier(2)
        statuses, errors = [], []

        def deliver(
            webhook_id=webhook_id,
            now=now,
            signature=signature,
            barrier=barrier,
            statuses=statuses,
            errors=errors,
        ):
            try:
                client = Client()
                barrier.wait(timeout=10)
                response = client.post(
                    "/api/v1/webhooks/race/",
                    body,
                    content_type="application/json",
                    HTTP_WEBHOOK_ID=webhook_id,
                    HTTP_WEBHOOK_TIMESTAMP=str(now),
                    HTTP_WEBHOOK_SIGNATURE=signature,
                )
                statuses.append(response.status_code)
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                connection.close()

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []
        assert sorted(statuses) == [200, 202]
        assert (
            InboundEvent.objects.filter(integration=integration, webhook_id=webhook_id).count() == 1
        )
