"""Every write of the risk queue: rules raise signals, signals group into cases, cases hold the
money they concern, and people decide (escalate, clear, confirm).

- `rules_evaluate_event` runs the per-event rules right after an event's handlers (a pipeline
  step, in the event's transaction); `rules_evaluate_nightly` runs the statistical ones.
- `signal_raise` writes a signal once per key and files it in the affiliate's live case (one
  open or escalated case per affiliate, enforced by the database), which then holds the case's
  players' CPA and RevShare lines (`commission_lines_hold`) and, from
  AFFILIATEHUB_RISK_PAYOUT_HOLD_SCORE, the affiliate's payouts (`payout_hold_place`).
- `risk_case_escalate` / `risk_case_clear` / `risk_case_confirm`: decisions, each with a reason,
  recorded (RiskDecision) and audited with before/after values in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.affiliates.models import Affiliate
from apps.affiliates.postbacks import PostbackTemplate
from apps.affiliates.services import affiliate_suspend
from apps.commissions.models import CommissionEntry, CommissionHold
from apps.commissions.services import (
    Line,
    commission_entries_set_status,
    commission_holds_release,
    commission_lines_hold,
    entry_book,
)
from apps.core import conf
from apps.core.audit import audit_change, audit_record, snapshot, stored_values
from apps.payouts.services import payout_hold_place, payout_hold_release
from apps.players.models import Player
from apps.risk.models import RiskCase, RiskDecision, RiskRule, RiskSignal
from apps.risk.rules import EventFacts, Finding, NightlyFacts, rule_modules

logger = logging.getLogger(__name__)

# The kinds of ledger lines a case holds: what the ring's players earned the affiliate.
HELD_KINDS = (CommissionEntry.Kind.CPA, CommissionEntry.Kind.REVSHARE)
CASE_FIELDS = ["status", "score", "payout_hold", "decided_by", "decided_at", "decision_reason"]


class RiskError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------
# Rules


def rules_sync() -> list[RiskRule]:
    """One RiskRule row per rule module (new rules get their defaults; settings are kept)."""
    rules = []
    for code, module in rule_modules().items():
        rule, _ = RiskRule.objects.get_or_create(
            code=code,
            defaults={"name": module.NAME, "score": module.SCORE, "params": dict(module.DEFAULTS)},
        )
        rules.append(rule)
    return rules


def _enabled_rules(trigger: str) -> list[tuple[RiskRule, object]]:
    modules = rule_modules()
    return [
        (rule, modules[rule.code])
        for rule in RiskRule.objects.filter(enabled=True, code__in=list(modules)).order_by("code")
        if trigger in modules[rule.code].TRIGGERS
    ]


def rules_evaluate_event(
    *,
    trigger: str,
    player: Player,
    deposit=None,
    identity_values=(),
    source_event_id: int | None = None,
    now: dt.datetime | None = None,
) -> list[RiskSignal]:
    """Run the enabled per-event rules of `trigger` ("registration", "deposit") on one event's
    facts; returns the signals raised (already filed in cases, with their holds)."""
    if not conf.flag("AFFILIATEHUB_RISK_EVENT_RULES"):
        return []
    facts = EventFacts(
        trigger=trigger,
        player=player,
        deposit=deposit,
        identity_values=list(identity_values),
        source_event_id=source_event_id,
        now=now or timezone.now(),
    )
    raised = []
    for rule, module in _enabled_rules(trigger):
        for finding in module.evaluate(facts, rule.params or {}):
            signal = signal_raise(rule=rule, finding=finding, source_event_id=source_event_id)
            if signal is not None:
                raised.append(signal)
    return raised


def rules_evaluate_nightly(*, now: dt.datetime | None = None) -> list[RiskSignal]:
    """The statistical rules (CPA farming), once a night (apps.risk.tasks)."""
    facts = NightlyFacts(trigger="nightly", now=now or timezone.now())
    raised = []
    for rule, module in _enabled_rules("nightly"):
        for finding in module.evaluate(facts, rule.params or {}):
            with transaction.atomic():
                signal = signal_raise(rule=rule, finding=finding, source_event_id=None)
            if signal is not None:
                raised.append(signal)
    return raised


# ---------------------------------------------------------------------------------------------
# Signals and cases


def _live_case(affiliate_id: int) -> tuple[RiskCase, bool]:
    """The affiliate's open or escalated case, locked; a new one when it has none."""
    case = (
        RiskCase.objects.select_for_update()
        .filter(affiliate_id=affiliate_id, status__in=RiskCase.LIVE)
        .first()
    )
    if case is not None:
        return case, False
    try:
        with transaction.atomic():
            return RiskCase.objects.create(affiliate_id=affiliate_id), True
    except IntegrityError:
        # A concurrent signal opened it first (riskcase_one_live_per_affiliate).
        return (
            RiskCase.objects.select_for_update().get(
                affiliate_id=affiliate_id, status__in=RiskCase.LIVE
            ),
            False,
        )


def case_score(case: RiskCase) -> int:
    """The sum of the scores of the distinct rules that fired in the case (each rule counted
    once, at its highest signal), capped at 100."""
    best: dict[int, int] = defaultdict(int)
    for rule_id, score in case.signals.values_list("rule_id", "score"):
        best[rule_id] = max(best[rule_id], score)
    return min(100, sum(best.values()))


def signal_raise(
    *, rule: RiskRule, finding: Finding, source_event_id: int | None
) -> RiskSignal | None:
    """Write the finding as a signal once (None when its key was raised before) and file it in
    the affiliate's live case: players joined, score recomputed, money held."""
    key = finding.key[:200]
    if RiskSignal.objects.filter(key=key).exists():
        return None
    try:
        with transaction.atomic():
            Affiliate.objects.filter(pk=finding.affiliate_id).select_for_update().first()
            case, opened = _live_case(finding.affiliate_id)
            before = snapshot(case, CASE_FIELDS)
            signal = RiskSignal.objects.create(
                rule=rule,
                key=key,
                affiliate_id=finding.affiliate_id,
                evidence=finding.evidence,
                summary=finding.summary[:300],
                score=rule.score,
                case=case,
                source_event_id=source_event_id,
            )
            if finding.players:
                signal.players.add(*finding.players)
                case.players.add(*finding.players)
            case.score = case_score(case)
            case.save(update_fields=["score", "updated_at"])
            _case_hold(case)
            audit_record(
                action="risk_case.opened" if opened else "risk_case.signal_added",
                instance=case,
                actor_label=f"risk rule {rule.code}",
                before=None if opened else before,
                after=snapshot(case, CASE_FIELDS)
                | {"signal": signal.pk, "summary": signal.summary},
            )
    except IntegrityError:
        # Raised concurrently under the same key: that one stands, this one left nothing behind.
        if RiskSignal.objects.filter(key=key).exists():
            return None
        raise
    return signal


def _case_hold(case: RiskCase) -> None:
    """Hold the case's players' CPA and RevShare lines not paid yet, and above the score limit
    the affiliate's payouts."""
    entries = CommissionEntry.objects.filter(
        affiliate_id=case.affiliate_id,
        player__risk_cases=case,
        kind__in=HELD_KINDS,
        status__in=[CommissionEntry.Status.PENDING, CommissionEntry.Status.APPROVED],
    )
    commission_lines_hold(
        entries=entries, reference=case.reference, label=case.label, actor_label="risk queue"
    )
    if case.payout_hold_id is None and case.score >= conf.integer(
        "AFFILIATEHUB_RISK_PAYOUT_HOLD_SCORE"
    ):
        hold = payout_hold_place(
            affiliate=case.affiliate,
            reason=f"Held: {case.label} (score {case.score})",
            actor_label="risk queue",
        )
        case.payout_hold = hold
        case.save(update_fields=["payout_hold", "updated_at"])


def lines_hold_for_live_cases(entries: Iterable[CommissionEntry]) -> list[CommissionHold]:
    """Lines booked after a case opened (a CPA qualifying later) are held by the case of their
    player's affiliate, when the player is in it."""
    entries = [
        e
        for e in entries
        if e.kind in HELD_KINDS and e.player_id is not None and e.status in ("pending", "approved")
    ]
    if not entries:
        return []
    cases = {
        (case_id, player_id)
        for case_id, player_id in RiskCase.players.through.objects.filter(
            player_id__in={e.player_id for e in entries},
            riskcase__status__in=RiskCase.LIVE,
        ).values_list("riskcase_id", "player_id")
    }
    if not cases:
        return []
    by_case: dict[int, list[CommissionEntry]] = defaultdict(list)
    for case_id, player_id in cases:
        by_case[case_id] += [e for e in entries if e.player_id == player_id]
    holds = []
    for case in RiskCase.objects.filter(pk__in=by_case).order_by("pk"):
        holds += commission_lines_hold(
            entries=[e for e in by_case[case.pk] if e.affiliate_id == case.affiliate_id],
            reference=case.reference,
            label=case.label,
            actor_label="risk queue",
        )
    return holds


# ---------------------------------------------------------------------------------------------
# Decisions


def _lock_live(case: RiskCase) -> RiskCase:
    locked = RiskCase.objects.select_for_update().select_related("affiliate").get(pk=case.pk)
    if not locked.is_live:
        raise RiskError(f"{locked} is already {locked.get_status_display().lower()}.")
    return locked


def _check(acting_user, reason: str) -> str:
    if acting_user is None or not acting_user.has_perm("risk.decide_riskcase"):
        raise RiskError(
            "Deciding risk cases needs the Compliance or Finance permission to decide them."
        )
    if not (reason or "").strip():
        raise RiskError("A decision needs a reason.")
    return reason.strip()


def _decide(case, acting_user, action: str, reason: str, before: dict, effects: dict) -> None:
    decision = RiskDecision.objects.create(
        case=case, action=action, decided_by=acting_user, reason=reason, effects=effects
    )
    audit_record(
        action=f"risk_case.{decision.get_action_display().lower()}",
        instance=case,
        actor=acting_user,
        before=before,
        after=snapshot(case, CASE_FIELDS) | {"effects": effects},
        reason=reason,
    )


def risk_case_escalate(*, case: RiskCase, acting_user, reason: str) -> RiskCase:
    """Pass an open case up (senior Compliance / MLRO): it stays live, its holds stay."""
    reason = _check(acting_user, reason)
    with transaction.atomic():
        case = _lock_live(case)
        if case.status == RiskCase.Status.ESCALATED:
            raise RiskError(f"{case} is already escalated.")
        before = snapshot(case, CASE_FIELDS)
        case.status = RiskCase.Status.ESCALATED
        case.save(update_fields=["status", "updated_at"])
        _decide(case, acting_user, RiskDecision.Action.ESCALATE, reason, before, {})
    return case


def _close(case: RiskCase, status: str, acting_user, reason: str) -> None:
    case.status, case.decided_by, case.decided_at, case.decision_reason = (
        status,
        acting_user,
        timezone.now(),
        reason,
    )
    case.save(update_fields=["status", "decided_by", "decided_at", "decision_reason", "updated_at"])


def risk_case_clear(*, case: RiskCase, acting_user, reason: str) -> RiskCase:
    """Not fraud: release every hold the case placed (the next close approves the lines, the next
    payout run pays them); the case's signals become "cleared" labels for the rule statistics."""
    reason = _check(acting_user, reason)
    with transaction.atomic():
        case = _lock_live(case)
        before = snapshot(case, CASE_FIELDS)
        released = commission_holds_release(
            reference=case.reference,
            reason=f"{case.label} cleared: {reason}",
            acting_user=acting_user,
        )
        effects = {"released_lines": len(released), "payout_hold_released": False}
        hold = case.payout_hold
        if hold is not None and hold.released_at is None:
            try:
                payout_hold_release(
                    hold=hold,
                    acting_user=acting_user,
                    reason=f"{case.label} cleared: {reason}",
                    permission="risk.decide_riskcase",
                )
                effects["payout_hold_released"] = True
            except ValueError as exc:  # the affiliate is suspended for another reason
                effects["payout_hold_kept"] = str(exc)
        _close(case, RiskCase.Status.CLEARED, acting_user, reason)
        _decide(case, acting_user, RiskDecision.Action.CLEAR, reason, before, effects)
    return case


def risk_case_confirm(
    *,
    case: RiskCase,
    acting_user,
    reason: str,
    suspend_affiliate: bool = False,
    suppress_postbacks: bool = False,
) -> RiskCase:
    """Fraud: reverse every line the case holds. A held line still pending fails (it was never
    approved); an approved or paid one is offset by a clawback line of the same amount in the
    current period, referencing it. The sum reversed equals the held lines to the cent.
    Optionally suspend the affiliate (its balance then stays held) and switch off its postbacks.
    The affiliate's payout hold stays until Finance releases it."""
    reason = _check(acting_user, reason)
    with transaction.atomic():
        case = _lock_live(case)
        before = snapshot(case, CASE_FIELDS)
        holds = list(
            CommissionHold.objects.filter(reference=case.reference, released_at__isnull=True)
            .select_related("entry", "entry__affiliate", "entry__plan", "entry__player")
            .order_by("entry_id")
        )
        reversed_total: dict[str, Decimal] = defaultdict(Decimal)
        failed, clawed = [], []
        now = timezone.now()
        for hold in holds:
            entry = hold.entry
            reversed_total[entry.currency] += entry.amount
            if entry.status == CommissionEntry.Status.PENDING:
                failed.append(entry)
                continue
            line, _ = entry_book(
                line=Line(
                    kind=CommissionEntry.Kind.CLAWBACK,
                    affiliate=entry.affiliate,
                    player=entry.player,
                    plan=entry.plan,
                    amount=-entry.amount,
                    currency=entry.currency,
                    occurred_at=now,
                    status=CommissionEntry.Status.APPROVED,
                    reverses=entry,
                    detail={"risk_case": case.pk},
                ),
                idempotency_key=f"risk_case:{case.pk}:{entry.pk}",
            )
            clawed.append(line.pk)
        if failed:
            commission_entries_set_status(
                entries=failed,
                to_status=CommissionEntry.Status.FAILED,
                reason=f"Fraud confirmed ({case.label}): {reason}"[:500],
                acting_user=acting_user,
            )
        commission_holds_release(
            reference=case.reference,
            reason=f"{case.label} confirmed: reversed",
            acting_user=acting_user,
        )
        effects = {
            "reversed": {c: str(a) for c, a in sorted(reversed_total.items())},
            "failed_lines": [e.pk for e in failed],
            "clawback_lines": clawed,
            "suspended": False,
            "postbacks_suppressed": 0,
        }
        if suspend_affiliate and case.affiliate.status == Affiliate.Status.ACTIVE:
            affiliate_suspend(
                affiliate=case.affiliate, acting_user=acting_user, reason=f"{case.label}: {reason}"
            )
            effects["suspended"] = True
        if suppress_postbacks:
            effects["postbacks_suppressed"] = _postbacks_off(case.affiliate_id, acting_user)
        _close(case, RiskCase.Status.CONFIRMED, acting_user, reason)
        _decide(case, acting_user, RiskDecision.Action.CONFIRM, reason, before, effects)
    return case


def _postbacks_off(affiliate_id: int, acting_user) -> int:
    templates = list(
        PostbackTemplate.objects.select_for_update()
        .filter(affiliate_id=affiliate_id, is_active=True)
        .order_by("pk")
    )
    for template in templates:
        before = stored_values(template)
        template.is_active = False
        template.save(update_fields=["is_active"])
        audit_change(instance=template, before=before, actor=acting_user)
    return len(templates)
