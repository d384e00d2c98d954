"""Reads on affiliates and links."""

from __future__ import annotations

from apps.affiliates.filters import AffiliateFilter
from apps.affiliates.models import Affiliate, Creative, TrackingLink
from apps.core.filters import filterset_apply


def clickable_link(*, code: str) -> TrackingLink | None:
    """The link behind `/t/<code>/` if it may redirect now: active, its affiliate active and its
    creative approved. Otherwise None (the caller answers 404 without saying which)."""
    return (
        TrackingLink.objects.select_related("affiliate", "creative")
        .filter(
            code=code,
            is_active=True,
            affiliate__status=Affiliate.Status.ACTIVE,
            creative__status=Creative.Status.APPROVED,
        )
        .first()
    )


def affiliate_list(*, filters=None, queryset=None):
    """Affiliates narrowed by AffiliateFilter (shared with the read API); FilterError on bad
    values."""
    base = Affiliate.objects.all() if queryset is None else queryset
    return filterset_apply(AffiliateFilter, data=filters, queryset=base)
