"""Delivery attempts in the admin are read-only; the admin index links to the django-rq dashboard."""

import pytest
from django.test import Client
from django.urls import reverse

from delivery.models import DeliveryAttempt
from tests.factories import InvitationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_delivery_attempts_are_listed_searchable_by_token_and_read_only(client_, organization):
    invitation = InvitationFactory(organization=organization)
    attempt = DeliveryAttempt.objects.create(
        invitation=invitation, number=1, channel="email", recipient=invitation.recipient, livemode=True
    )
    InvitationFactory(organization=organization)
    listing = client_.get(reverse("admin:delivery_deliveryattempt_changelist") + f"?q={invitation.token}")
    assert [a.pk for a in listing.context["cl"].result_list] == [attempt.pk]
    page = client_.get(reverse("admin:delivery_deliveryattempt_change", args=[attempt.pk])).content.decode()
    assert 'name="_save"' not in page
    assert client_.get(reverse("admin:delivery_deliveryattempt_add")).status_code == 403


def test_the_admin_index_links_to_the_django_rq_dashboard_which_renders(client_):
    index = client_.get(reverse("admin:index")).content.decode()
    assert f'href="{reverse("django_rq:home")}"' in index
    assert client_.get(reverse("django_rq:home")).status_code == 200


def test_staff_without_queue_permissions_get_no_dashboard_link(organization):
    from tests.factories import StaffUserFactory

    client = Client()
    client.force_login(StaffUserFactory(permissions=("invitations.view_invitation",)))
    assert 'id="rq-dashboard-link"' not in client.get(reverse("admin:index")).content.decode()
