"""What the player fact services share: their errors, input checks and the idempotent insert."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db.models import Subquery

from apps.core import partitions
from apps.core.db import insert_or_skip, insert_or_skip_keyed
from apps.core.money import MoneyError, to_decimal
from apps.players.fact_keys import RevenueReportKey, TradeKey
from apps.players.facts import RevenueReport, Trade


class FactError(ValueError):
    """A fact was refused: its input is inconsistent with itself or with what is recorded."""


class PurchaseNotFound(FactError):
    """A refund names a purchase the hub has not recorded (yet)."""


# --- input checks -----------------------------------------------------------------------------


def checked_aware(value: dt.datetime, name: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise FactError(f"{name} must be a timezone-aware datetime, got {value!r}.")
    return value


def checked_amount(
    value: object, name: str, *, positive: bool = False, non_negative: bool = False
) -> Decimal:
    try:
        amount = to_decimal(value)
    except MoneyError as exc:
        raise FactError(f"{name}: {exc}") from exc
    if positive and amount <= 0:
        raise FactError(f"{name} must be greater than zero, got {amount}.")
    if non_negative and amount < 0:
        raise FactError(f"{name} must not be negative, got {amount}.")
    return amount


def checked_optional_amount(value: object, name: str) -> Decimal:
    return Decimal(0) if value is None else checked_amount(value, name)


def checked_currency(value: str) -> str:
    if (
        not isinstance(value, str)
        or not (3 <= len(value) <= 4)
        or not value.isalpha()
        or not value.isupper()
    ):
        raise FactError(f"Currency must be an upper-case ISO 4217 code, got {value!r}.")
    return value


def checked_required(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FactError(f"{name} must be a non-empty string.")
    return value


# The partitioned facts: their natural key's table and their partition key (apps.players.fact_keys).
_KEYED = {RevenueReport: (RevenueReportKey, "date"), Trade: (TradeKey, "closed_at")}


def insert_fact(model, *, key: dict, values: dict):
    """(fact, created): insert the fact unless its natural key `key` is stored, else the stored
    row. One `INSERT ... ON CONFLICT DO NOTHING` (no savepoint, no prior select); the new row
    holds the values as stored (decimals rounded by the database). A partitioned fact's key
    goes to its key table in the same statement; its stored row is found through the key (the
    partition it is in, by id)."""
    fact = model(**key, **values)
    keyed = _KEYED.get(model)
    if keyed is None:
        if insert_or_skip(fact, conflict=tuple(key)):
            return fact, True
        return model.objects.get(**key), False
    key_model, partition = keyed
    partitions.partitions_ensure_for(model._meta.db_table, values[partition])
    if insert_or_skip_keyed(fact, key_model=key_model, conflict=tuple(key), partition=partition):
        return fact, True
    # One query: the key's id and partition key as subqueries (the executor prunes to the one
    # partition they name).
    stored = key_model.objects.filter(**key)
    return model.objects.get(
        pk=Subquery(stored.values("fact_id")),
        **{partition: Subquery(stored.values(partition))},
    ), False
