"""Plan assignments: which plan an affiliate is on for a brand, dated, never overlapping."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q

from apps.affiliates.models import Affiliate
from apps.commissions.models import Plan, PlanAssignment
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
    *, affiliate: Affiliate, brand: str, plan: Plan, valid_from: dt.date, valid_to: dt.date | None = None,
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
            .filter(affiliate=affiliate, brand=brand, valid_from__lt=valid_from, valid_to__isnull=True)
            .first()
        )
        if current is not None:
            current.valid_to = valid_from
            current.save(update_fields=["valid_to", "updated_at"])
            audit_record(action="plan_assignment.ended", instance=current, actor=acting_user,
                         after={"valid_to": valid_from.isoformat()})
        clash = assignment_overlap(affiliate=affiliate, brand=brand, valid_from=valid_from, valid_to=valid_to)
        if clash is not None:
            raise PlanAssignmentError(
                f"{affiliate} already has plan {clash.plan} for {brand} from {clash.valid_from}"
                f"{f' to {clash.valid_to}' if clash.valid_to else ''}, overlapping {valid_from}."
            )
        assignment = PlanAssignment.objects.create(
            affiliate=affiliate, brand=brand, plan=plan, valid_from=valid_from, valid_to=valid_to
        )
        audit_record(action="plan_assignment.created", instance=assignment, actor=acting_user,
                     after=snapshot(assignment, ["affiliate", "brand", "plan", "valid_from", "valid_to"]))
    return assignment
