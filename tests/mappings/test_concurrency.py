"""Two identical registrations at the same moment, on real PostgreSQL, make one player."""

import threading

import pytest
from django.db import connection

from apps.mappings import services
from apps.mappings.models import IdentifierMapping
from apps.players.models import Player
from tests.mappings.conftest import REGISTERED_AT


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_registrations_make_one_player(licensed_de, monkeypatch):
    # Both threads must pass the "already registered?" check before either inserts, so the race
    # is certain, not left to scheduling: the loser then meets the unique mapping constraint.
    both_checked = threading.Barrier(2)
    original_check = services._existing_registration
    state = threading.local()

    def check_then_wait(identifiers):
        found = original_check(identifiers)
        if not getattr(state, "waited", False):
            state.waited = True
            both_checked.wait(timeout=10)
        return found

    monkeypatch.setattr(services, "_existing_registration", check_then_wait)
    results, errors = [], []

    def worker():
        try:
            results.append(
                services.player_register(
                    tracking_token=None,
                    registered_at=REGISTERED_AT,
                    country="DE",
                    brand="spinpalace",
                    identifiers={"crm": "C-42", "mt5-live": "4242"},
                    source="race",
                )
            )
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Player.objects.count() == 1
    assert IdentifierMapping.objects.count() == 2
    player = Player.objects.get()
    assert sorted((r.player.pk, r.created) for r in results) == [
        (player.pk, False),
        (player.pk, True),
    ]
