"""The hot-path statements of apps.core.db."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.core.db import insert_or_skip, lock_row
from apps.players.facts import Deposit
from apps.players.models import Player
from tests.factories import PlayerFactory

pytestmark = pytest.mark.django_db
AT = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def _deposit(player, deposit_id="D-1", amount="25.5"):
    return Deposit(
        system="crm",
        deposit_id=deposit_id,
        player=player,
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=AT,
    )


def test_inserts_once_and_reads_back_what_the_database_stored():
    player = PlayerFactory()
    first = _deposit(player, amount="25.123456789")
    assert insert_or_skip(first, conflict=("system", "deposit_id")) is True
    stored = Deposit.objects.get(pk=first.pk)
    assert first.amount == stored.amount == Decimal("25.12345679")  # numeric(20, 8) rounded it
    assert first.recorded_at == stored.recorded_at  # auto_now_add applied as save() does
    assert not first._state.adding

    again = _deposit(player, amount="99")
    assert insert_or_skip(again, conflict=("system", "deposit_id")) is False
    assert again.pk is None
    assert Deposit.objects.get().amount == Decimal("25.12345679")


def test_other_constraints_still_raise():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        insert_or_skip(_deposit(PlayerFactory(), amount="-1"), conflict=("system", "deposit_id"))


def test_lock_row_says_whether_the_row_exists():
    player = PlayerFactory()
    assert lock_row(Player, player.pk) is True
    assert lock_row(Player, player.pk + 1000) is False
