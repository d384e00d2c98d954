"""Write operations on affiliates, campaigns, creatives, tracking links and clicks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.affiliates.models import Affiliate, Campaign, Click, Creative, TrackingLink
from apps.core import conf
from apps.core.audit import audit_record, snapshot

LINK_CODE_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o/1/l: codes get typed by hand
LINK_CODE_LENGTH = 8
SUB_ID_MAX_LENGTH = 255
USER_AGENT_MAX_LENGTH = 512


class AffiliateDomainError(Exception):
    """A business rule refused the operation; the message says which and why."""


class AffiliateStateError(AffiliateDomainError):
    pass


class CreativeStateError(AffiliateDomainError):
    pass


class TrackingLinkRefused(AffiliateDomainError):
    pass


class LinkNotClickable(AffiliateDomainError):
    pass


# --- affiliates -------------------------------------------------------------------------------


def affiliate_create(
    *,
    name: str,
    email: str,
    payout_currency: str = "EUR",
    parent: Affiliate | None = None,
    acting_user=None,
    actor_label: str = "",
) -> Affiliate:
    with transaction.atomic():
        affiliate = Affiliate.objects.create(
            name=name,
            email=email.strip().lower(),
            payout_currency=payout_currency.upper(),
            parent=parent,
        )
        audit_record(
            action="affiliate.created",
            instance=affiliate,
            actor=acting_user,
            actor_label=actor_label,
            after=snapshot(affiliate),
        )
    return affiliate


def affiliate_update(
    *,
    affiliate: Affiliate,
    name: str,
    email: str,
    payout_currency: str,
    parent: Affiliate | None,
    acting_user=None,
) -> Affiliate:
    """Edit an affiliate's details (status changes go through suspend/activate)."""
    with transaction.atomic():
        affiliate = Affiliate.objects.select_for_update().get(pk=affiliate.pk)
        if affiliate_parent_would_cycle(affiliate=affiliate, parent=parent):
            raise AffiliateDomainError("An affiliate cannot be its own parent or ancestor.")
        fields = ["name", "email", "payout_currency", "parent"]
        before = snapshot(affiliate, fields)
        affiliate.name = name
        affiliate.email = email.strip().lower()
        affiliate.payout_currency = payout_currency.upper()
        affiliate.parent = parent
        affiliate.save(update_fields=[*fields, "updated_at"])
        after = snapshot(affiliate, fields)
        if after != before:
            audit_record(
                action="affiliate.updated",
                instance=affiliate,
                actor=acting_user,
                before=before,
                after=after,
            )
    return affiliate


def affiliate_parent_would_cycle(*, affiliate: Affiliate, parent: Affiliate | None) -> bool:
    """Whether making `parent` the parent of `affiliate` would put it inside its own subtree."""
    if parent is None or affiliate.pk is None:
        return False
    return parent.pk == affiliate.pk or affiliate.pk in _ancestor_ids(parent)


def _ancestor_ids(affiliate: Affiliate) -> set[int]:
    ids: set[int] = set()
    current = affiliate
    while current.parent_id is not None and current.parent_id not in ids:
        ids.add(current.parent_id)
        current = Affiliate.objects.only("parent_id").get(pk=current.parent_id)
    return ids


def _set_affiliate_status(
    *, affiliate: Affiliate, status: str, action: str, acting_user, reason: str
) -> Affiliate:
    with transaction.atomic():
        affiliate = Affiliate.objects.select_for_update().get(pk=affiliate.pk)
        if affiliate.status == status:
            raise AffiliateStateError(
                f"Affiliate {affiliate} is already {affiliate.get_status_display().lower()}."
            )
        before = snapshot(affiliate, ["status"])
        affiliate.status = status
        affiliate.save(update_fields=["status", "updated_at"])
        audit_record(
            action=action,
            instance=affiliate,
            actor=acting_user,
            before=before,
            after=snapshot(affiliate, ["status"]),
            reason=reason,
        )
    return affiliate


def affiliate_suspend(*, affiliate: Affiliate, acting_user=None, reason: str = "") -> Affiliate:
    """Suspend: the affiliate's links stop redirecting and it cannot create new ones."""
    return _set_affiliate_status(
        affiliate=affiliate,
        status=Affiliate.Status.SUSPENDED,
        action="affiliate.suspended",
        acting_user=acting_user,
        reason=reason,
    )


def affiliate_ban(*, affiliate: Affiliate, acting_user=None, reason: str = "") -> Affiliate:
    """Ban: like a suspension (nothing accrues, links stop), and payout runs hold its balance."""
    return _set_affiliate_status(
        affiliate=affiliate,
        status=Affiliate.Status.BANNED,
        action="affiliate.banned",
        acting_user=acting_user,
        reason=reason,
    )


def affiliate_activate(*, affiliate: Affiliate, acting_user=None, reason: str = "") -> Affiliate:
    return _set_affiliate_status(
        affiliate=affiliate,
        status=Affiliate.Status.ACTIVE,
        action="affiliate.activated",
        acting_user=acting_user,
        reason=reason,
    )


# --- campaigns and creatives ------------------------------------------------------------------


def campaign_create(*, affiliate: Affiliate, name: str, brand: str, acting_user=None) -> Campaign:
    with transaction.atomic():
        campaign = Campaign.objects.create(affiliate=affiliate, name=name, brand=brand)
        audit_record(
            action="campaign.created",
            instance=campaign,
            actor=acting_user,
            after=snapshot(campaign),
        )
    return campaign


def creative_create(*, campaign: Campaign, name: str, acting_user=None) -> Creative:
    """A new creative starts pending: compliance must approve it before links can use it."""
    with transaction.atomic():
        creative = Creative.objects.create(campaign=campaign, name=name)
        audit_record(
            action="creative.created",
            instance=creative,
            actor=acting_user,
            after=snapshot(creative),
        )
    return creative


def creative_rename(*, creative: Creative, name: str, acting_user=None) -> Creative:
    with transaction.atomic():
        creative = Creative.objects.select_for_update().get(pk=creative.pk)
        before = {"name": creative.name}
        creative.name = name
        creative.save(update_fields=["name", "updated_at"])
        audit_record(
            action="creative.renamed",
            instance=creative,
            actor=acting_user,
            before=before,
            after={"name": name},
        )
    return creative


def campaign_rename(*, campaign: Campaign, name: str, acting_user=None) -> Campaign:
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        before = {"name": campaign.name}
        campaign.name = name
        campaign.save(update_fields=["name", "updated_at"])
        audit_record(
            action="campaign.renamed",
            instance=campaign,
            actor=acting_user,
            before=before,
            after={"name": name},
        )
    return campaign


def creative_can_approve(creative: Creative) -> bool:
    return creative.status != Creative.Status.APPROVED


def creative_can_reject(creative: Creative) -> bool:
    return creative.status != Creative.Status.REJECTED


def _review_creative(
    *, creative: Creative, status: str, acting_user, note: str, action: str
) -> Creative:
    with transaction.atomic():
        creative = Creative.objects.select_for_update().get(pk=creative.pk)
        allowed = (
            creative_can_approve if status == Creative.Status.APPROVED else creative_can_reject
        )
        if not allowed(creative):
            raise CreativeStateError(
                f"Creative {creative} is already {creative.get_status_display().lower()}."
            )
        fields = ["status", "reviewed_by", "reviewed_at", "review_note"]
        before = snapshot(creative, fields)
        creative.status = status
        creative.reviewed_by = (
            acting_user if getattr(acting_user, "is_authenticated", False) else None
        )
        creative.reviewed_at = timezone.now()
        creative.review_note = note
        creative.save(update_fields=[*fields, "updated_at"])
        audit_record(
            action=action,
            instance=creative,
            actor=acting_user,
            before=before,
            after=snapshot(creative, fields),
            reason=note,
        )
    return creative


def creative_approve(*, creative: Creative, acting_user, note: str = "") -> Creative:
    """Approve a pending (or previously rejected) creative; links may then use it."""
    return _review_creative(
        creative=creative,
        status=Creative.Status.APPROVED,
        acting_user=acting_user,
        note=note,
        action="creative.approved",
    )


def creative_reject(*, creative: Creative, acting_user, reason: str = "") -> Creative:
    """Reject a creative (also withdraws an earlier approval: its links stop redirecting)."""
    return _review_creative(
        creative=creative,
        status=Creative.Status.REJECTED,
        acting_user=acting_user,
        note=reason,
        action="creative.rejected",
    )


# --- tracking links ---------------------------------------------------------------------------


def tracking_link_check(*, affiliate: Affiliate, campaign: Campaign, creative: Creative) -> None:
    """Raise TrackingLinkRefused unless a link may be created for these three."""
    if affiliate.status != Affiliate.Status.ACTIVE:
        raise TrackingLinkRefused(
            f"Affiliate {affiliate} is suspended and cannot create tracking links."
        )
    if campaign.affiliate_id != affiliate.pk:
        raise TrackingLinkRefused(f"Campaign {campaign} does not belong to affiliate {affiliate}.")
    if creative.campaign_id != campaign.pk:
        raise TrackingLinkRefused(f"Creative {creative} does not belong to campaign {campaign}.")
    if creative.status != Creative.Status.APPROVED:
        raise TrackingLinkRefused(
            f"Creative {creative} is {creative.get_status_display().lower()}; links need an "
            "approved creative."
        )


def _new_link_code() -> str:
    return "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))


def tracking_link_create(
    *,
    affiliate: Affiliate,
    campaign: Campaign,
    creative: Creative,
    landing_url: str,
    acting_user=None,
) -> TrackingLink:
    """Create a link with a short random code. Refused unless the affiliate is active and the
    creative approved (checked under row locks, so a concurrent suspension cannot slip by)."""
    try:
        URLValidator(schemes=["http", "https"])(landing_url)
    except ValidationError as exc:
        raise TrackingLinkRefused(f"Landing URL {landing_url!r} is not an http(s) URL.") from exc
    with transaction.atomic():
        affiliate = Affiliate.objects.select_for_update().get(pk=affiliate.pk)
        creative = Creative.objects.select_for_update().get(pk=creative.pk)
        campaign = Campaign.objects.get(pk=campaign.pk)
        tracking_link_check(affiliate=affiliate, campaign=campaign, creative=creative)
        for attempt in range(5):
            try:
                with transaction.atomic():
                    link = TrackingLink.objects.create(
                        code=_new_link_code(),
                        affiliate=affiliate,
                        campaign=campaign,
                        creative=creative,
                        landing_url=landing_url,
                    )
                break
            except IntegrityError:
                if attempt == 4:
                    raise
        audit_record(
            action="tracking_link.created", instance=link, actor=acting_user, after=snapshot(link)
        )
    return link


def tracking_link_deactivate(
    *, link: TrackingLink, acting_user=None, reason: str = ""
) -> TrackingLink:
    with transaction.atomic():
        link = TrackingLink.objects.select_for_update().get(pk=link.pk)
        if not link.is_active:
            raise AffiliateDomainError(f"Link {link} is already inactive.")
        link.is_active = False
        link.save(update_fields=["is_active", "updated_at"])
        audit_record(
            action="tracking_link.deactivated",
            instance=link,
            actor=acting_user,
            before={"is_active": True},
            after={"is_active": False},
            reason=reason,
        )
    return link


# --- clicks -----------------------------------------------------------------------------------


def hash_ip(ip: str) -> str:
    """HMAC-SHA256 of the address with the configured salt: comparable, not reversible."""
    salt = conf.click_ip_salt()
    return hmac.new(salt.encode(), ip.encode(), hashlib.sha256).hexdigest()


def tracking_link_is_clickable(link: TrackingLink) -> bool:
    return (
        link.is_active
        and link.affiliate.status == Affiliate.Status.ACTIVE
        and link.creative.status == Creative.Status.APPROVED
    )


def click_record(
    *,
    link: TrackingLink,
    sub_ids: Mapping[str, str] | None = None,
    ip: str | None = None,
    user_agent: str = "",
    occurred_at: datetime | None = None,
    country: str = "",
) -> Click:
    """Record one visit and give it an unguessable token. Not audited: it is traffic, not a
    change. `country` is the visitor's country as the edge located it (kept only when it is a
    valid alpha-2 code; the geo-mismatch risk rule compares it with the registration's)."""
    country = (country or "").strip().upper()
    if not tracking_link_is_clickable(link):
        raise LinkNotClickable(f"Link {link} does not accept clicks.")
    subs = {f"sub{i}": (sub_ids or {}).get(f"sub{i}", "")[:SUB_ID_MAX_LENGTH] for i in range(1, 6)}
    return Click.objects.create(
        link=link,
        token=secrets.token_urlsafe(24),
        ip_hash=hash_ip(ip) if ip else "",
        user_agent=user_agent[:USER_AGENT_MAX_LENGTH],
        country=country if len(country) == 2 and country.isalpha() and country.isascii() else "",
        created_at=occurred_at or timezone.now(),
        **subs,
    )
