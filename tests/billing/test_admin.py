"""Billing events in the admin: read-only, with totals of whatever the filters select."""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingEvent
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db


def event(organization, n: int, event_type: str, amount: str) -> BillingEvent:
    return BillingEvent.objects.create(
        organization=organization,
        event_type=event_type,
        source_id=f"attempt:{organization.slug}-{n}",
        amount=Decimal(amount),
        currency="EUR",
        created_at=timezone.now(),
    )


def test_billing_events_show_totals_per_type_for_the_filtered_rows(admin_user):
    acme, other = OrganizationFactory(slug="acme"), OrganizationFactory(slug="other")
    for n in range(3):
        event(acme, n, "send.email", "0.0100")
    for n in range(3, 5):
        event(acme, n, "send.sms", "0.0500")
    event(other, 9, "send.sms", "0.0500")
    client = Client()
    client.force_login(admin_user)

    everything = client.get(reverse("admin:billing_billingevent_changelist"))
    acme_only = client.get(reverse("admin:billing_billingevent_changelist") + f"?organization__id__exact={acme.pk}")

    def totals(response):
        return [(row["event_type"], row["events"], row["total"]) for row in response.context["billing_totals"]]

    assert totals(everything) == [("send.email", 3, Decimal("0.0300")), ("send.sms", 3, Decimal("0.1500"))]
    assert totals(acme_only) == [("send.email", 3, Decimal("0.0300")), ("send.sms", 2, Decimal("0.1000"))]
    assert 'id="billing-totals"' in acme_only.content.decode()
    assert "0.1000 EUR" in acme_only.content.decode()


def test_billing_events_cannot_be_added_changed_or_deleted_in_the_admin(admin_user):
    billed = event(OrganizationFactory(), 1, "send.email", "0.0100")
    client = Client()
    client.force_login(admin_user)
    assert client.get(reverse("admin:billing_billingevent_add")).status_code == 403
    page = client.get(reverse("admin:billing_billingevent_change", args=[billed.pk])).content.decode()
    assert 'name="_save"' not in page
    assert (
        client.post(reverse("admin:billing_billingevent_delete", args=[billed.pk]), {"post": "yes"}).status_code == 403
    )
    assert BillingEvent.objects.filter(pk=billed.pk).exists()
