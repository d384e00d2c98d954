"""GET /api/v1/commissions/, /statements/, /payouts/: filters, pagination, scopes, shapes, no
N+1."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.commissions.models import CommissionEntry, Statement, StatementLine
from apps.payouts import services as payout_services
from apps.payouts.models import Payout
from tests.factories import AffiliateFactory, PlayerFactory
from tests.payouts.factories import PayoutMethodFactory, approved_statement

pytestmark = pytest.mark.django_db

_keys = iter(range(1_000_000))


def ledger_line(
    *,
    affiliate,
    player=None,
    kind="cpa",
    status="pending",
    period=dt.date(2026, 11, 1),
    amount="150",
    currency="EUR",
    **extra,
) -> CommissionEntry:
    approved = status in ("approved", "paid")
    return CommissionEntry.objects.create(
        kind=kind,
        affiliate=affiliate,
        player=player,
        idempotency_key=f"api-test:{next(_keys)}",
        period=period,
        occurred_at=timezone.now() - dt.timedelta(days=1),
        amount=Decimal(amount),
        currency=currency,
        status=status,
        statement_period=period if approved else None,
        status_reason="" if status in ("pending", "approved", "paid") else "x",
        **extra,
    )


def _ids(client, url, **params):
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def _all_ids(client, url, params):
    ids, response = [], client.get(url, params)
    while True:
        assert response.status_code == 200, response.content
        ids += [row["id"] for row in response.json()["results"]]
        if not response.json()["next"]:
            return ids
        response = client.get(response.json()["next"])


# ---- /commissions/


def test_commissions_filters(api_key_factory):
    client = api_key_factory("commissions:read")
    a, b = AffiliateFactory(), AffiliateFactory()
    player = PlayerFactory()
    cpa = ledger_line(affiliate=a, player=player)
    rev = ledger_line(
        affiliate=a, kind="revshare", status="approved", period=dt.date(2026, 10, 1), amount="20.5"
    )
    usd = ledger_line(affiliate=b, kind="clawback", status="approved", amount="-10", currency="USD")
    url = "/api/v1/commissions/"
    assert _ids(client, url) == [cpa.pk, rev.pk, usd.pk]
    assert _ids(client, url, affiliate=a.pk) == [cpa.pk, rev.pk]
    assert _ids(client, url, player=player.pk) == [cpa.pk]
    assert _ids(client, url, kind="clawback") == [usd.pk]
    assert _ids(client, url, status="approved") == [rev.pk, usd.pk]
    assert _ids(client, url, period="2026-10") == [rev.pk]
    assert _ids(client, url, period="2026-11-01") == [cpa.pk, usd.pk]
    assert _ids(client, url, statement_period="2026-10") == [rev.pk]
    assert _ids(client, url, currency="usd") == [usd.pk]
    assert (
        _ids(client, url, created_after=(timezone.now() + dt.timedelta(minutes=1)).isoformat())
        == []
    )
    assert _ids(
        client, url, created_before=(timezone.now() + dt.timedelta(minutes=1)).isoformat()
    ) == [cpa.pk, rev.pk, usd.pk]


def test_commission_row_shape_has_no_personal_or_free_form_data(api_key_factory):
    client = api_key_factory("commissions:read")
    line = ledger_line(
        affiliate=AffiliateFactory(),
        player=PlayerFactory(),
        detail={"note": "private"},
        quantity=Decimal("50"),
    )
    (row,) = client.get("/api/v1/commissions/").json()["results"]
    assert (
        row["id"] == line.pk
        and row["affiliate"] == line.affiliate_id
        and row["player"] == line.player_id
    )
    assert (
        row["amount"] == "150.00000000"
        and row["quantity"] == "50.00000000"
        and row["currency"] == "EUR"
    )
    assert row["period"] == "2026-11-01" and row["statement_period"] is None
    assert "detail" not in row and "status_reason" not in row


@pytest.mark.parametrize(
    "params",
    [
        {"period": "2026-13"},
        {"period": "2026-11-15"},
        {"period": "0000-01"},
        {"kind": "bonus"},
        {"affiliate": "0"},
        {"currency": ""},
        {"currency": "false"},
        {"created_after": "soon"},
    ],
)
def test_commissions_bad_filters_are_400_problems(api_key_factory, params):
    response = api_key_factory("commissions:read").get("/api/v1/commissions/", params)
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert set(response.json()["errors"]) == set(params)


def test_commissions_pages_are_complete_and_stable(api_key_factory):
    client = api_key_factory("commissions:read")
    affiliate = AffiliateFactory()
    lines = [ledger_line(affiliate=affiliate) for _ in range(7)]
    assert _all_ids(client, "/api/v1/commissions/", {"page_size": 3}) == [line.pk for line in lines]


# ---- /statements/


def _statement_with_lines(*, affiliate, period, currency="EUR", status=Statement.Status.CLOSED):
    statement = Statement.objects.create(
        period=period,
        affiliate=affiliate,
        currency=currency,
        status=status,
        total=Decimal("1409.68"),
        approved_at=timezone.now() if status == Statement.Status.APPROVED else None,
    )
    StatementLine.objects.create(
        statement=statement,
        kind="revshare",
        entry_count=1,
        exact_amount=Decimal("209.6845"),
        amount=Decimal("209.68"),
    )
    StatementLine.objects.create(
        statement=statement,
        kind="cpa",
        entry_count=8,
        exact_amount=Decimal("1200"),
        amount=Decimal("1200"),
    )
    return statement


def test_statements_with_lines_and_filters(api_key_factory):
    client = api_key_factory("statements:read")
    a, b = AffiliateFactory(), AffiliateFactory()
    nov = _statement_with_lines(affiliate=a, period=dt.date(2026, 11, 1))
    oct_usd = _statement_with_lines(
        affiliate=a, period=dt.date(2026, 10, 1), currency="USD", status=Statement.Status.APPROVED
    )
    other = _statement_with_lines(affiliate=b, period=dt.date(2026, 11, 1))
    url = "/api/v1/statements/"
    body = client.get(url).json()
    assert [row["id"] for row in body["results"]] == [nov.pk, oct_usd.pk, other.pk]
    first = body["results"][0]
    assert (
        first["total"] == "1409.68000000"
        and first["period"] == "2026-11-01"
        and first["status"] == "closed"
    )
    assert [(line["kind"], line["entry_count"], line["amount"]) for line in first["lines"]] == [
        ("cpa", 8, "1200.00000000"),
        ("revshare", 1, "209.68000000"),
    ]
    assert _ids(client, url, affiliate=a.pk) == [nov.pk, oct_usd.pk]
    assert _ids(client, url, period="2026-11") == [nov.pk, other.pk]
    assert _ids(client, url, status="approved") == [oct_usd.pk]
    assert _ids(client, url, currency="USD") == [oct_usd.pk]
    assert client.get(url, {"status": "open"}).status_code == 400


def test_statements_no_n_plus_one(api_key_factory):
    client = api_key_factory("statements:read")
    client.get("/api/v1/statements/")  # key's last_used_at written
    for month in range(1, 11):
        _statement_with_lines(affiliate=AffiliateFactory(), period=dt.date(2026, month, 1))
    with CaptureQueriesContext(connection) as queries:
        assert len(client.get("/api/v1/statements/").json()["results"]) == 10
    assert len(queries) <= 3  # key, page, lines


# ---- /payouts/


def _payouts():
    a, b = AffiliateFactory(), AffiliateFactory()
    PayoutMethodFactory(affiliate=a, wire=True)
    PayoutMethodFactory(affiliate=b)
    first = approved_statement(affiliate=a, total="900.00")
    second = approved_statement(affiliate=b, total="40.00")
    payout_services.payout_run_create()
    return Payout.objects.get(affiliate=a), Payout.objects.get(affiliate=b), first, second


def test_payouts_list_with_statements_and_no_banking_data(api_key_factory):
    client = api_key_factory("payouts:read")
    wire, wallet, first, _ = _payouts()
    body = client.get("/api/v1/payouts/").json()
    rows = {row["id"]: row for row in body["results"]}
    assert set(rows) == {wire.pk, wallet.pk}
    row = rows[wire.pk]
    assert row["reference"] == wire.reference and row["method_kind"] == "bank_wire"
    assert (
        row["statements"] == [first.pk]
        and row["amount"] == "900.00000000"
        and row["status"] == "draft"
    )
    text = str(body)
    assert "DE89370400440532013000" not in text and "@wallet.example" not in text


def test_payouts_filters(api_key_factory):
    client = api_key_factory("payouts:read")
    wire, wallet, *_ = _payouts()
    url = "/api/v1/payouts/"
    assert _ids(client, url, affiliate=wire.affiliate_id) == [wire.pk]
    assert _ids(client, url, method_kind="skrill") == [wallet.pk]
    assert _ids(client, url, reference=wallet.reference) == [wallet.pk]
    assert _ids(client, url, status="completed") == []
    assert sorted(_ids(client, url, status="draft", currency="eur")) == sorted([wire.pk, wallet.pk])
    assert (
        _ids(client, url, created_after=(timezone.now() + dt.timedelta(minutes=1)).isoformat())
        == []
    )
    assert client.get(url, {"status": "paid"}).status_code == 400


def test_payouts_no_n_plus_one(api_key_factory):
    client = api_key_factory("payouts:read")
    client.get("/api/v1/payouts/")
    for _ in range(4):
        affiliate = AffiliateFactory()
        PayoutMethodFactory(affiliate=affiliate)
        approved_statement(affiliate=affiliate, total="100.00")
    payout_services.payout_run_create()
    with CaptureQueriesContext(connection) as queries:
        assert len(client.get("/api/v1/payouts/").json()["results"]) == 4
    assert len(queries) <= 3  # key, page (with method), allocations


# ---- common


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        ("/api/v1/commissions/", "commissions:read"),
        ("/api/v1/statements/", "statements:read"),
        ("/api/v1/payouts/", "payouts:read"),
    ],
)
def test_each_needs_its_own_scope(api_client, api_key_factory, url, scope):
    assert api_client.get(url).status_code == 401
    wrong = api_key_factory("events:read").get(url)
    assert wrong.status_code == 403 and scope in wrong.json()["detail"]
    assert wrong["Content-Type"] == "application/problem+json"
    assert api_key_factory(scope).get(url).status_code == 200


def test_throttled_per_key(api_key_factory, settings):
    settings.AFFILIATEHUB_API_THROTTLE_RATE = "2/minute"
    client = api_key_factory("commissions:read", "payouts:read")
    assert client.get("/api/v1/commissions/").status_code == 200
    assert client.get("/api/v1/payouts/").status_code == 200
    throttled = client.get("/api/v1/commissions/")
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
