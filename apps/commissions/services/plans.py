"""Plans and their assignments: which plan an affiliate is on for a brand (dated, never
overlapping), and the plan's terms, versioned once anything accrued under them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Max, Min, OuterRef, Q, Subquery, Sum

from apps.affiliates.models import Affiliate
from apps.commissions import periods
from apps.commissions.models import (
    CommissionEntry,
    InstrumentGroup,
    LotRate,
    PeriodClose,
    Plan,
    PlanAssignment,
    PlanTier,
    StatementRevshare,
)
from apps.core.audit import audit_record, snapshot


class PlanAssignmentError(ValueError):
    pass


def assignment_overlap(
    *, affiliate: Affiliate, brand: str, valid_from: dt.date, valid_to: dt.date | None
) -> PlanAssignment | None:
    """An assignment of the affiliate and brand overlapping [valid_from, valid_to), if any. An
    open-ended one that starts earlier is not a clash: creating the new one ends it."""
    overlapping = (
        PlanAssignment.objects.filter(affiliate=affiliate, brand=brand)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=valid_from))
        .exclude(valid_to__isnull=True, valid_from__lt=valid_from)
    )
    if valid_to is not None:
        overlapping = overlapping.filter(valid_from__lt=valid_to)
    return overlapping.select_related("plan").first()


def plan_assignment_create(
    *,
    affiliate: Affiliate,
    brand: str,
    plan: Plan,
    valid_from: dt.date,
    valid_to: dt.date | None = None,
    acting_user=None,
) -> PlanAssignment:
    """Put an affiliate on a plan for a brand from `valid_from` (operator-local date). An open
    assignment that starts earlier is ended the day this one starts; any other overlap is
    refused. The affiliate row lock serialises concurrent changes, so the check cannot race."""
    if valid_to is not None and valid_to <= valid_from:
        raise PlanAssignmentError("An assignment must end after it starts.")
    with transaction.atomic():
        # Lock the affiliate: assignments of one affiliate change one at a time.
        Affiliate.objects.select_for_update(no_key=True).only("pk").get(pk=affiliate.pk)
        current = (
            PlanAssignment.objects.select_for_update()
            .filter(
                affiliate=affiliate, brand=brand, valid_from__lt=valid_from, valid_to__isnull=True
            )
            .first()
        )
        if current is not None:
            current.valid_to = valid_from
            current.save(update_fields=["valid_to", "updated_at"])
            audit_record(
                action="plan_assignment.ended",
                instance=current,
                actor=acting_user,
                after={"valid_to": valid_from.isoformat()},
            )
        clash = assignment_overlap(
            affiliate=affiliate, brand=brand, valid_from=valid_from, valid_to=valid_to
        )
        if clash is not None:
            raise PlanAssignmentError(
                f"{affiliate} already has plan {clash.plan} for {brand} from {clash.valid_from}"
                f"{f' to {clash.valid_to}' if clash.valid_to else ''}, overlapping {valid_from}."
            )
        assignment = PlanAssignment.objects.create(
            affiliate=affiliate, brand=brand, plan=plan, valid_from=valid_from, valid_to=valid_to
        )
        audit_record(
            action="plan_assignment.created",
            instance=assignment,
            actor=acting_user,
            after=snapshot(assignment, ["affiliate", "brand", "plan", "valid_from", "valid_to"]),
        )
    return assignment


# --- versions ---------------------------------------------------------------------------------

# What a version carries over from the one before it, unless the change says otherwise.
VERSION_IDENTITY_FIELDS = frozenset(
    {"id", "created_at", "updated_at", "name", "family", "version", "effective_from"}
)
PLAN_TERM_FIELDS = tuple(
    field.name for field in Plan._meta.concrete_fields if field.name not in VERSION_IDENTITY_FIELDS
)


class PlanError(ValueError):
    """A change of plan terms was refused (edit of an accrued plan, a version dated in the
    past...)."""


def plan_has_accrued(plan: Plan) -> bool:
    """Whether any ledger line or statement was priced with this version of the terms."""
    return (
        CommissionEntry.objects.filter(plan=plan).exists()
        or StatementRevshare.objects.filter(plan=plan).exists()
    )


def _terms(plan: Plan) -> dict:
    return {
        **snapshot(plan, list(PLAN_TERM_FIELDS)),
        "tiers": [
            [t.applies_to, str(t.threshold), str(t.percent)]
            for t in plan.tiers.order_by("applies_to", "threshold")
        ],
        "lot_rates": [[r.group_id, str(r.rate)] for r in plan.lot_rates.order_by("group_id")],
    }


def plan_versions_applied(plan: Plan):
    """Every version of the plan's family with what it applied to: ledger lines priced with it
    (count, approved or paid amount, first and last activity) and RevShare statements."""
    root_id = plan.family_root_id
    lines = CommissionEntry.objects.filter(plan=OuterRef("pk")).order_by().values("plan")
    return (
        Plan.objects.filter(Q(pk=root_id) | Q(family_id=root_id))
        .order_by("version")
        .annotate(
            n_entries=Subquery(lines.annotate(n=Count("pk")).values("n")[:1]),
            accrued=Subquery(
                lines.filter(status__in=["approved", "paid"])
                .annotate(s=Sum("amount"))
                .values("s")[:1]
            ),
            first_at=Subquery(lines.annotate(m=Min("occurred_at")).values("m")[:1]),
            last_at=Subquery(lines.annotate(m=Max("occurred_at")).values("m")[:1]),
            n_statements=Subquery(
                StatementRevshare.objects.filter(plan=OuterRef("pk"))
                .order_by()
                .values("plan")
                .annotate(n=Count("pk"))
                .values("n")[:1]
            ),
        )
    )


def plan_create(
    *,
    name: str,
    kind: str,
    currency: str,
    terms: dict | None = None,
    tiers: list[tuple] | None = None,
    lot_rates: dict[str, Decimal] | None = None,
    acting_user=None,
    actor_label: str = "",
) -> Plan:
    """A new plan (version 1) with its tiers (`(applies_to, threshold, percent)` tuples) and lot
    rates (instrument group code -> rate per lot), validated and audited with its terms."""
    unknown = set(terms or {}) - set(PLAN_TERM_FIELDS)
    if unknown:
        raise PlanError(f"Not plan terms: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        plan = Plan(name=name, kind=kind, currency=currency, **(terms or {}))
        plan.full_clean()
        plan.save()
        PlanTier.objects.bulk_create(
            [
                PlanTier(plan=plan, applies_to=applies_to, threshold=threshold, percent=percent)
                for applies_to, threshold, percent in tiers or []
            ]
        )
        groups = {g.code: g for g in InstrumentGroup.objects.filter(code__in=list(lot_rates or {}))}
        missing = set(lot_rates or {}) - set(groups)
        if missing:
            raise PlanError(f"Unknown instrument groups: {', '.join(sorted(missing))}.")
        LotRate.objects.bulk_create(
            [
                LotRate(plan=plan, group=groups[code], rate=rate)
                for code, rate in (lot_rates or {}).items()
            ]
        )
        plan.refresh_from_db()  # the audit shows the stored values
        audit_record(
            action="plan.created",
            instance=plan,
            actor=acting_user,
            actor_label=actor_label,
            after=_terms(plan),
        )
    return plan


def plan_update(*, plan: Plan, changes: dict, acting_user=None) -> Plan:
    """Edit a plan's terms in place, only while nothing has accrued under it (audited). An accrued
    plan changes through `plan_version_create`."""
    unknown = set(changes) - set(PLAN_TERM_FIELDS) - {"name"}
    if unknown:
        raise PlanError(f"Not plan terms: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        locked = Plan.objects.select_for_update().get(pk=plan.pk)
        if plan_has_accrued(locked):
            raise PlanError(
                f"{locked} has accrued commission: its terms are never edited in place; "
                "create a new version with an effective date."
            )
        before = _terms(locked)
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.full_clean()
        locked.save()
        locked.refresh_from_db()  # the audit shows the stored values
        audit_record(
            action="plan.updated",
            instance=locked,
            actor=acting_user,
            before=before,
            after=_terms(locked),
        )
    return locked


def plan_version_create(
    *,
    plan: Plan,
    effective_from: dt.date,
    changes: dict | None = None,
    tiers: list[tuple] | None = None,
    acting_user=None,
) -> Plan:
    """A new version of a plan's terms, in force from `effective_from` (operator-local date).

    It copies the latest version's terms, tiers and lot rates, then applies `changes` (field ->
    value) and, when given, replaces the tiers (`(applies_to, threshold, percent)` tuples). It may
    not take effect in a closed period, nor before activity already accrued under the plan (that
    activity keeps the terms it was priced with). Audited with the terms before and after.
    """
    changes = dict(changes or {})
    unknown = set(changes) - set(PLAN_TERM_FIELDS) - {"name"}
    if unknown:
        raise PlanError(f"Not plan terms: {', '.join(sorted(unknown))}.")
    if {"kind", "currency"} & set(changes):
        raise PlanError(
            "A version keeps the plan's kind and currency; a different one is a different plan."
        )
    root_id = plan.family_root_id
    with transaction.atomic():
        # One version at a time per plan: the first version's row is the family's lock.
        root = Plan.objects.select_for_update().get(pk=root_id)
        family = Plan.objects.filter(Q(pk=root_id) | Q(family_id=root_id))
        latest = family.order_by("-version").first()
        if latest.effective_from is not None and effective_from <= latest.effective_from:
            raise PlanError(
                f"Version {latest.version} takes effect {latest.effective_from}; a new version "
                "must take effect after it."
            )
        if PeriodClose.objects.filter(period=effective_from.replace(day=1)).exists():
            raise PlanError(
                f"{effective_from:%Y-%m} is closed: a version cannot take effect in a closed "
                "period."
            )
        starts = dt.datetime.combine(effective_from, dt.time.min, tzinfo=periods.operator_zone())
        accrued_after = CommissionEntry.objects.filter(
            plan__in=family, occurred_at__gte=starts
        ).order_by("occurred_at")
        if accrued_after.exists():
            first = accrued_after.first()
            raise PlanError(
                f"Commission already accrued under {root.name} for activity on "
                f"{periods.local_date(first.occurred_at)}: a version cannot take effect before it."
            )
        version = Plan(**{name: getattr(latest, name) for name in PLAN_TERM_FIELDS})
        version.name = changes.pop("name", None) or f"{root.name} (v{latest.version + 1})"
        version.family, version.version, version.effective_from = (
            root,
            latest.version + 1,
            effective_from,
        )
        for name, value in changes.items():
            setattr(version, name, value)
        version.full_clean()
        version.save()
        version.refresh_from_db()
        source_tiers = (
            tiers
            if tiers is not None
            else [(t.applies_to, t.threshold, t.percent) for t in latest.tiers.all()]
        )
        PlanTier.objects.bulk_create(
            [
                PlanTier(plan=version, applies_to=applies_to, threshold=threshold, percent=percent)
                for applies_to, threshold, percent in source_tiers
            ]
        )
        LotRate.objects.bulk_create(
            [
                LotRate(plan=version, group_id=rate.group_id, rate=rate.rate)
                for rate in latest.lot_rates.all()
            ]
        )
        audit_record(
            action="plan.version_created",
            instance=version,
            actor=acting_user,
            before=_terms(latest),
            after={
                **_terms(version),
                "version": version.version,
                "effective_from": effective_from.isoformat(),
                "family": root.pk,
            },
        )
    return version
