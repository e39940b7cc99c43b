from datetime import timedelta

import factory
from django.conf import settings
from django.utils import timezone

from accounts.models import Organization
from invitations.models import Invitation, Workflow


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.Sequence(lambda n: f"Organization {n}")


class WorkflowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workflow

    organization = factory.SubFactory(OrganizationFactory)
    name = "Onboarding"
    flow_url = "https://verify.example.com/flow/onboarding"
    is_default = True


class InvitationFactory(factory.django.DjangoModelFactory):
    """An invitation already sent an hour ago: eligible for resend unless told otherwise."""

    class Meta:
        model = Invitation

    organization = factory.SubFactory(OrganizationFactory)
    workflow = factory.LazyAttribute(
        lambda o: (
            Workflow.objects.filter(organization=o.organization, is_default=True).first()
            or WorkflowFactory(organization=o.organization)
        )
    )
    livemode = True
    status = Invitation.Status.SENT
    channel = Invitation.Channel.EMAIL
    recipient = factory.Sequence(lambda n: f"person{n}@example.com")
    delivery_attempts = 1
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    sent_at = factory.LazyAttribute(lambda o: o.created_at + timedelta(seconds=5))
    expires_at = factory.LazyAttribute(lambda o: o.created_at + timedelta(days=settings.INVITATION_EXPIRY_DAYS))
