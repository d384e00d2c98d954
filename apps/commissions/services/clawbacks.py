"""Clawback review (DOMAIN.md "Clawbacks"): a chargeback opens a case with proposed negative
lines; Finance approves (books them in the current period) or dismisses (books nothing)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from apps.commissions import events
from apps.commissions.calculators import HUNDRED, ledger_amount, override_amount
from apps.commissions.models import (
    ClawbackCase,
    ClawbackCaseEvent,
    ClawbackProposal,
    CommissionEntry,
)
from apps.commissions.services.ledger import (
    Kind,
    LedgerError,
    Line,
    Status,
    ancestors,
    commission_entries_set_status,
    entry_book,
    plan_for,
)
from apps.core.audit import audit_record, snapshot
from apps.core.display import format_money
from apps.players.facts import Chargeback


class ClawbackError(ValueError):
    pass


def _override_proposals(
    case: ClawbackCase, proposal: ClawbackProposal, *, brand: str, at: dt.datetime
) -> None:
    for level, parent in enumerate(ancestors(proposal.affiliate), start=1):
        plan = plan_for(affiliate_id=parent.pk, brand=brand, at=at)
        if plan is None or plan.override_percent <= 0 or plan.override_depth < level:
            continue
        original = None
        if proposal.original_id:
            original = CommissionEntry.objects.filter(
                basis=proposal.original, affiliate=parent, kind=Kind.OVERRIDE
            ).first()
            if original is None:
                continue  # no override was booked on it: nothing to take back
            amount = -original.amount
        else:
            amount = override_amount(proposal.amount, plan.override_percent)
        ClawbackProposal.objects.create(
            case=case,
            kind=ClawbackProposal.Kind.OVERRIDE,
            affiliate=parent,
            plan=plan,
            original=original,
            amount=amount,
            currency=proposal.currency,
            explanation=f"Level-{level} override of {proposal.affiliate} on: "
            f"{proposal.explanation}"[:500],
        )


def clawback_case_open(*, chargeback: Chargeback, source_event_id: int) -> ClawbackCase | None:
    """Open the review case for a chargeback (once per chargeback id) with its proposals: the
    player's CPA if it qualified inside the plan's clawback window before the chargeback, and
    the chargeback amount as an NGR deduction at the RevShare rate (net of admin fee).

    The same chargeback reported again (a new event, or another system) opens nothing: the
    report is added to the case's history and audited."""
    player = chargeback.player
    if player.affiliate_id is None:
        return None
    report = {
        "system": chargeback.system,
        "amount": chargeback.amount,
        "currency": chargeback.currency,
        "occurred_at": chargeback.occurred_at,
    }
    with transaction.atomic():
        case, created = ClawbackCase.objects.get_or_create(
            chargeback_id=chargeback.chargeback_id,
            defaults={
                "player": player,
                "chargeback_reference": f"{chargeback.system}:{chargeback.chargeback_id}",
                "chargeback_amount": chargeback.amount,
                "currency": chargeback.currency,
                "chargeback_at": chargeback.occurred_at,
                "chargeback_event_id": source_event_id,
            },
        )
        if not created:
            _, new_report = ClawbackCaseEvent.objects.get_or_create(
                case=case,
                source_event_id=source_event_id,
                defaults={"kind": ClawbackCaseEvent.Kind.REPEATED, **report},
            )
            if new_report:
                audit_record(
                    action="clawback_case.repeated",
                    instance=case,
                    actor_label="chargeback.created",
                    after={
                        "source_event_id": source_event_id,
                        "system": chargeback.system,
                        "amount": str(chargeback.amount),
                        "currency": chargeback.currency,
                    },
                )
            return case
        ClawbackCaseEvent.objects.create(
            case=case, kind=ClawbackCaseEvent.Kind.OPENED, source_event_id=source_event_id, **report
        )
        proposals = []
        cpa = (
            CommissionEntry.objects.filter(
                player=player,
                kind=Kind.CPA,
                status__in=[Status.PENDING, Status.APPROVED, Status.PAID],
            )
            .select_related("plan", "affiliate")
            .first()
        )
        if cpa is not None and cpa.plan is not None:
            window_end = cpa.occurred_at + dt.timedelta(days=cpa.plan.clawback_window_days)
            if chargeback.occurred_at <= window_end:
                proposals.append(
                    ClawbackProposal.objects.create(
                        case=case,
                        kind=ClawbackProposal.Kind.CPA,
                        affiliate=cpa.affiliate,
                        plan=cpa.plan,
                        original=cpa,
                        amount=-cpa.amount,
                        currency=cpa.currency,
                        explanation=f"CPA #{cpa.pk} qualified {cpa.occurred_at:%Y-%m-%d}, within "
                        "the "
                        f"{cpa.plan.clawback_window_days}-day clawback window",
                    )
                )
        plan = plan_for(
            affiliate_id=player.affiliate_id, brand=player.brand, at=chargeback.occurred_at
        )
        if (
            plan is not None
            and plan.pays_revshare
            and plan.deduct_chargebacks
            and plan.revshare_percent > 0
        ):
            net = chargeback.amount * (HUNDRED - plan.admin_fee_percent) / HUNDRED
            amount = -ledger_amount(net * plan.revshare_percent / HUNDRED)
            proposals.append(
                ClawbackProposal.objects.create(
                    case=case,
                    kind=ClawbackProposal.Kind.REVSHARE,
                    affiliate=player.affiliate,
                    plan=plan,
                    amount=amount,
                    currency=chargeback.currency,
                    explanation="Chargeback "
                    f"{format_money(chargeback.amount, chargeback.currency)} deducted "
                    "from NGR "
                    f"(admin fee {plan.admin_fee_percent}%) at {plan.revshare_percent}% RevShare",
                )
            )
        for proposal in proposals:
            _override_proposals(case, proposal, brand=player.brand, at=chargeback.occurred_at)
        audit_record(
            action="clawback_case.opened",
            instance=case,
            actor_label="chargeback.created",
            after={"proposals": len(proposals), "amount": str(chargeback.amount)},
        )
    return case


def _lock_open(case: ClawbackCase) -> ClawbackCase:
    locked = ClawbackCase.objects.select_for_update().get(pk=case.pk)
    if locked.status != ClawbackCase.Status.OPEN:
        raise ClawbackError(f"Clawback case #{locked.pk} is already {locked.status}.")
    return locked


def clawback_case_approve(*, case: ClawbackCase, reason: str, acting_user) -> ClawbackCase:
    """Book the proposals as clawback lines in the current period, referencing the originals.
    A still-pending original CPA is failed instead of being offset (it was never approved)."""
    if not reason.strip():
        raise ClawbackError("Approving a clawback needs a reason.")
    now = timezone.now()
    with transaction.atomic():
        case = _lock_open(case)
        before = snapshot(case, ["status"])
        for proposal in case.proposals.select_related("original", "affiliate", "plan").order_by(
            "pk"
        ):
            original = proposal.original
            if original is not None:
                original = CommissionEntry.objects.select_for_update().get(pk=original.pk)
                if original.status == Status.PENDING:
                    commission_entries_set_status(
                        entries=[original],
                        to_status=Status.FAILED,
                        acting_user=acting_user,
                        reason=f"Clawback case #{case.pk}: {reason.strip()}",
                    )
                    continue
                if original.status not in (Status.APPROVED, Status.PAID):
                    continue  # already failed or cancelled: nothing to take back
            line = Line(
                kind=Kind.CLAWBACK,
                affiliate=proposal.affiliate,
                player=case.player,
                plan=proposal.plan,
                amount=proposal.amount,
                currency=proposal.currency,
                occurred_at=now,
                status=Status.APPROVED,
                reverses=original,
                detail={
                    "clawback_case": case.pk,
                    "proposal": proposal.pk,
                    "chargeback_event_id": case.chargeback_event_id,
                },
            )
            try:
                entry, _ = entry_book(
                    line=line, idempotency_key=f"clawback:{case.pk}:{proposal.pk}"
                )
            except LedgerError as exc:
                raise ClawbackError(str(exc)) from exc
            proposal.booked_entry = entry
            proposal.save(update_fields=["booked_entry"])
        case.status, case.decided_by, case.decided_at = (
            ClawbackCase.Status.APPROVED,
            acting_user,
            now,
        )
        case.decision_reason = reason.strip()
        case.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_record(
            action="clawback_case.approved",
            instance=case,
            actor=acting_user,
            before=before,
            after=snapshot(case, ["status"]),
            reason=case.decision_reason,
        )
        events.clawback_decided_publish(case=case)
    return case


def clawback_case_dismiss(*, case: ClawbackCase, reason: str, acting_user) -> ClawbackCase:
    """Close the case without booking anything."""
    if not reason.strip():
        raise ClawbackError("Dismissing a clawback needs a reason.")
    with transaction.atomic():
        case = _lock_open(case)
        before = snapshot(case, ["status"])
        case.status, case.decided_by, case.decided_at = (
            ClawbackCase.Status.DISMISSED,
            acting_user,
            timezone.now(),
        )
        case.decision_reason = reason.strip()
        case.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        audit_record(
            action="clawback_case.dismissed",
            instance=case,
            actor=acting_user,
            before=before,
            after=snapshot(case, ["status"]),
            reason=case.decision_reason,
        )
        events.clawback_decided_publish(case=case)
    return case
