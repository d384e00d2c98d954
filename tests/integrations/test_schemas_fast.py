"""The fast payload path of validate_envelope agrees with the DRF serializers on any input.

`validate_envelope(..., fast=False)` is the reference: one DRF serializer per event type. The
fast path runs the same bound fields without the serializer machinery and hands any payload
with an error to the serializer, so both must give the same ValidationResult (data, errors,
warnings, type, time) for every envelope, valid or not.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.integrations.inbound.schemas import (
    _BOUND_FIELDS,
    EVENT_SERIALIZERS,
    KIND_EVENT_TYPES,
    _fast_data,
    _serializer_data,
    validate_envelope,
)

TYPES = sorted(EVENT_SERIALIZERS)
KIND_OF = {t: next(k for k, types in KIND_EVENT_TYPES.items() if t in types) for t in TYPES}

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**22), max_value=10**22),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "x\x00y",
            "EUR\n",
            "GB",
            "gb",
            "EUR",
            "EU",
            "12.50",
            "-3",
            "0",
            "1e5",
            " 7 ",
            "0.000000001",
            "1" * 13 + ".5",
            "2026-11-27",
            "2026-11-27T14:05:00Z",
            "2026-11-27T14:05:00",
            "2026-11-27T14:05:00+01:00",
            "2026-02-30T00:00:00Z",
            "mt5",
            "out_by",
            "passed",
            "x" * 256,
            "\ud800",
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(
        st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=3
    ),
)

_valid_by_name = {
    "amount": st.sampled_from(["12.50", "1", 3, "0.00000001"]),
    "stakes": st.sampled_from(["0", "10.5", 4]),
    "winnings": st.sampled_from(["0", "2.25"]),
    "volume_lots": st.sampled_from(["0.01", "1"]),
    "profit": st.sampled_from(["-5.5", "0", "12"]),
    "currency": st.sampled_from(["EUR", "USD"]),
    "country": st.sampled_from(["GB", "DE"]),
    "platform": st.sampled_from(["mt4", "mt5", "ctrader", "dxtrade"]),
    "entry": st.sampled_from(["in", "out", "inout", "out_by"]),
    "status": st.sampled_from(["pending", "passed", "failed"]),
    "date": st.sampled_from(["2026-11-27", "2024-02-29"]),
    "identifiers": st.dictionaries(
        st.sampled_from(["crm", "mt5-live"]),
        st.one_of(st.text(min_size=1, max_size=5), st.integers()),
        max_size=2,
    ),
}
_any_time = st.sampled_from(
    ["2026-11-27T14:05:00Z", "2026-11-27T14:05:00.123456+01:00", "2026-11-27 14:05:00-05:00"]
)
_any_id = st.one_of(
    st.text(min_size=1, max_size=8).filter(str.strip), st.integers(min_value=0, max_value=10**12)
)


def _valid_value(name: str):
    if name in _valid_by_name:
        return _valid_by_name[name]
    if name.endswith("_at"):
        return _any_time
    if name.endswith("_id") or name in {"login", "player_id"}:
        return _any_id
    return st.text(min_size=1, max_size=20).filter(str.strip)


@st.composite
def payloads(draw, event_type: str):
    data = {}
    for name in EVENT_SERIALIZERS[event_type]().fields:
        choice = draw(st.sampled_from(["valid", "valid", "valid", "junk", "missing"]))
        if choice == "valid":
            data[name] = draw(_valid_value(name))
        elif choice == "junk":
            data[name] = draw(_junk)
    if draw(st.booleans()):
        data[draw(st.text(min_size=1, max_size=6))] = draw(_junk)
    return data


@st.composite
def envelopes(draw):
    event_type = draw(st.sampled_from(TYPES))
    envelope = {
        "type": event_type,
        "timestamp": draw(st.one_of(_any_time, _junk)),
        "data": draw(payloads(event_type)),
    }
    if draw(st.integers(0, 9)) == 0:
        envelope["type"] = draw(_junk)
    if draw(st.integers(0, 9)) == 0:
        envelope["data"] = draw(_junk)
    if draw(st.integers(0, 9)) == 0:
        envelope[draw(st.text(min_size=1, max_size=6))] = draw(_junk)
    return envelope, KIND_OF[event_type]


def test_every_event_type_has_a_fast_path():
    assert all(_BOUND_FIELDS[event_type] is not None for event_type in TYPES)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes())
def test_fast_and_serializer_paths_give_the_same_result(case):
    envelope, kind = case
    assert validate_envelope(envelope, kind=kind) == validate_envelope(
        envelope, kind=kind, fast=False
    )


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(TYPES).flatmap(lambda t: st.tuples(st.just(t), payloads(t))))
def test_the_fast_path_answers_exactly_the_payloads_the_serializer_accepts(case):
    event_type, data = case
    fast = _fast_data(event_type, data)
    reference, errors = _serializer_data(event_type, data)
    if errors:
        assert fast is None
    else:
        assert fast == reference
        assert list(fast) == list(reference)  # same fields, same order


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"deposit_id": "D1", "player_id": "P1", "amount": 12.5, "currency": "EUR"}, "data.amount"),
        ({"deposit_id": "D1", "player_id": "P1", "amount": "0", "currency": "EUR"}, "data.amount"),
        (
            {"deposit_id": "D1", "player_id": None, "amount": "1", "currency": "eur"},
            "data.player_id",
        ),
        (
            {"deposit_id": " ", "player_id": "P1", "amount": "1", "currency": "EUR"},
            "data.deposit_id",
        ),
    ],
)
def test_errors_still_come_from_the_serializer(data, field):
    envelope = {"type": "deposit.created", "timestamp": "2026-11-27T14:05:00Z", "data": data}
    result = validate_envelope(envelope, kind="payments")
    assert field in result.errors
    assert result == validate_envelope(envelope, kind="payments", fast=False)


def test_valid_payload_values_are_converted_as_before():
    envelope = {
        "type": "deposit.created",
        "timestamp": "2026-11-27T14:05:00Z",
        "data": {
            "deposit_id": 7,
            "player_id": "P1",
            "amount": "12.50",
            "currency": "EUR",
            "note": None,
        },
    }
    result = validate_envelope(envelope, kind="payments")
    assert result.is_valid
    assert result.data == {
        "deposit_id": "7",
        "player_id": "P1",
        "amount": Decimal("12.50"),
        "currency": "EUR",
    }
    assert result.warnings == [{"field": "data.note", "message": "Unknown field; ignored."}]
