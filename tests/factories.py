"""Shared factory-boy factories for the domain models."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from apps.affiliates.models import Affiliate, Campaign, Click, Creative, TrackingLink
from apps.compliance.models import BrandLicence, Jurisdiction, KycRecord, SelfExclusion
from apps.mappings.models import IdentifierMapping
from apps.players.models import Player


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """`UserFactory(roles=["Retention"])` puts the user in those groups (made by migrations)."""
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))


class AffiliateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Affiliate

    name = factory.Sequence(lambda n: f"Affiliate {n}")
    email = factory.Sequence(lambda n: f"affiliate{n}@partners.example")
    status = Affiliate.Status.ACTIVE
    payout_currency = "EUR"


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    affiliate = factory.SubFactory(AffiliateFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    brand = "spinpalace"


class CreativeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Creative

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"Banner {n}")
    status = Creative.Status.PENDING

    class Params:
        approved = factory.Trait(
            status=Creative.Status.APPROVED,
            reviewed_at=factory.LazyFunction(timezone.now),
            reviewed_by=factory.SubFactory(UserFactory),
        )


class TrackingLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrackingLink

    code = factory.LazyFunction(lambda: secrets.token_hex(4))
    creative = factory.SubFactory(CreativeFactory, approved=True)
    campaign = factory.SelfAttribute("creative.campaign")
    affiliate = factory.SelfAttribute("creative.campaign.affiliate")
    landing_url = "https://spinpalace.example/welcome?lang=en"
    is_active = True


class ClickFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Click

    link = factory.SubFactory(TrackingLinkFactory)
    token = factory.LazyFunction(lambda: secrets.token_urlsafe(24))
    sub1 = "sub-one"
    created_at = factory.LazyFunction(timezone.now)


class JurisdictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Jurisdiction
        django_get_or_create = ("code",)

    code = "DE"
    name = factory.LazyAttribute(lambda o: f"Country {o.code}")


class BrandLicenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BrandLicence
        django_get_or_create = ("brand", "country")

    brand = "spinpalace"
    country = factory.SubFactory(JurisdictionFactory)
    is_active = True


class PlayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Player

    brand = "spinpalace"
    country = "DE"
    registered_at = factory.LazyFunction(lambda: datetime(2026, 11, 1, 12, 0, tzinfo=UTC))
    attribution_status = Player.AttributionStatus.ORGANIC
    attribution_note = "no tracking token"


class IdentifierMappingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = IdentifierMapping

    player = factory.SubFactory(PlayerFactory)
    system = "crm"
    external_id = factory.Sequence(lambda n: f"C-{100000 + n}")
    source = "factory"


class KycRecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = KycRecord

    player = factory.SubFactory(PlayerFactory)
    status = KycRecord.Status.PENDING
    updated_at = factory.LazyFunction(timezone.now)
    source = "factory"
    is_current = True


class SelfExclusionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SelfExclusion

    player = factory.SubFactory(PlayerFactory)
    scheme = "operator"
    starts_at = factory.LazyFunction(timezone.now)
    source = "factory"
