"""The ledger's guarantees: immutable rows, constraints, idempotent accrual, idempotent close."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from apps.commissions.models import CommissionEntry, PeriodClose, Plan, Statement, StatementLine
from apps.commissions.services import (
    LedgerError,
    Line,
    StatementError,
    commission_entries_set_status,
    entry_book,
    statement_approve,
    statements_close,
)
from apps.commissions.services.plans import PlanAssignmentError, plan_assignment_create
from apps.core.models import AuditLog
from tests.commissions.factories import PlanAssignmentFactory, PlanFactory
from tests.factories import AffiliateFactory, UserFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC
T = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
D = Decimal


def _line(affiliate, **kw):
    defaults = {
        "kind": "adjustment",
        "affiliate": affiliate,
        "amount": D("10"),
        "currency": "EUR",
        "occurred_at": T,
        "status": "approved",
    }
    return Line(**{**defaults, **kw})


def test_entry_refuses_save_and_delete():
    entry, _ = entry_book(line=_line(AffiliateFactory()), idempotency_key="k1")
    entry.amount = D(99)
    with pytest.raises(ValueError, match="immutable"):
        entry.save()
    with pytest.raises(ValueError, match="never deleted"):
        entry.delete()


def test_database_refuses_amount_change_delete_and_backward_status():
    entry, _ = entry_book(line=_line(AffiliateFactory()), idempotency_key="k1")
    for sql in (
        "UPDATE commissions_commissionentry SET amount = 1 WHERE id = %s",
        "DELETE FROM commissions_commissionentry WHERE id = %s",
        "UPDATE commissions_commissionentry SET status = 'pending', statement_period = NULL WHERE "
        "id = %s",
    ):
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])


def test_amount_sign_per_kind_is_a_database_check():
    affiliate = AffiliateFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        entry_book(line=_line(affiliate, kind="cpa", amount=D(-1)), idempotency_key="neg-cpa")
    with pytest.raises(IntegrityError), transaction.atomic():
        entry_book(
            line=_line(affiliate, kind="clawback", amount=D(1)), idempotency_key="pos-clawback"
        )


def test_float_never_reaches_the_ledger():
    with pytest.raises(LedgerError):
        entry_book(line=_line(AffiliateFactory(), amount=10.5), idempotency_key="float")


def test_same_key_books_once():
    affiliate = AffiliateFactory()
    first, created = entry_book(line=_line(affiliate), source_event_id=7)
    again, created_again = entry_book(line=_line(affiliate, amount=D(11)), source_event_id=7)
    assert (created, created_again, again.pk, again.amount) == (True, False, first.pk, D(10))


def test_status_moves_forward_only_and_is_audited():
    entry, _ = entry_book(line=_line(AffiliateFactory(), status="pending"), idempotency_key="p")
    with pytest.raises(LedgerError):
        commission_entries_set_status(entries=[entry], to_status="failed")  # no reason
    commission_entries_set_status(entries=[entry], to_status="cancelled", reason="test")
    with pytest.raises(LedgerError):
        commission_entries_set_status(
            entries=[entry], to_status="approved", statement_period=dt.date(2026, 1, 1)
        )
    assert AuditLog.objects.filter(
        action="commission_entry.cancelled", object_id=str(entry.pk)
    ).exists()


def test_duplicate_event_delivery_accrues_once(pipeline, make_player):
    assignment = PlanAssignmentFactory(plan=PlanFactory(kind=Plan.Kind.CPA))
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T)
    # Same deposit sent twice under two webhook ids (a sender retry after a timeout).
    pipeline.deposit(player.ref, "50", T, deposit_id="D-1")
    pipeline.deposit(player.ref, "50", T, deposit_id="D-1")
    assert CommissionEntry.objects.filter(kind="cpa").count() == 1


def test_close_is_idempotent_and_approved_statement_immutable(pipeline, make_player):
    assignment = PlanAssignmentFactory(plan=PlanFactory(kind=Plan.Kind.CPA))
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "50", T)
    call_command("statements_close", "2026-01", stdout=open("/dev/null", "w"))  # noqa: SIM115
    snapshot = (
        list(StatementLine.objects.values_list("pk", "amount")),
        CommissionEntry.objects.count(),
    )
    statements_close(period=dt.date(2026, 1, 1))
    assert (
        list(StatementLine.objects.values_list("pk", "amount")),
        CommissionEntry.objects.count(),
    ) == snapshot
    assert PeriodClose.objects.count() == 1
    statement = Statement.objects.get()
    approved = statement_approve(statement=statement, acting_user=UserFactory())
    assert approved.status == "approved"
    with pytest.raises(StatementError):
        statement_approve(statement=statement, acting_user=UserFactory())


def test_late_event_for_a_closed_period_books_into_the_next_open_one(pipeline, make_player):
    assignment = PlanAssignmentFactory(plan=PlanFactory(kind=Plan.Kind.CPA))
    statements_close(period=dt.date(2026, 1, 1))
    player = make_player(assignment.affiliate)
    pipeline.kyc(player.ref, "passed", T)
    pipeline.deposit(player.ref, "50", T)  # happened in January, arrives after January closed
    assert CommissionEntry.objects.get(kind="cpa").period == dt.date(2026, 2, 1)


def test_open_period_cannot_be_closed():
    with pytest.raises(StatementError, match="has not ended"):
        statements_close(period=dt.date(2099, 1, 1))


def test_overlapping_assignment_is_refused_and_open_one_is_ended():
    affiliate = AffiliateFactory()
    first = plan_assignment_create(
        affiliate=affiliate, brand="b", plan=PlanFactory(), valid_from=dt.date(2026, 1, 1)
    )
    plan_assignment_create(
        affiliate=affiliate, brand="b", plan=PlanFactory(), valid_from=dt.date(2026, 3, 1)
    )
    first.refresh_from_db()
    assert first.valid_to == dt.date(2026, 3, 1)
    with pytest.raises(PlanAssignmentError):
        plan_assignment_create(
            affiliate=affiliate,
            brand="b",
            plan=PlanFactory(),
            valid_from=dt.date(2026, 2, 1),
            valid_to=dt.date(2026, 4, 1),
        )
