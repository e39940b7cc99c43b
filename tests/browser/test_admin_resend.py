"""The support console in a real headless Chromium (Debian's), against the live server.

Nothing here downloads a browser: Playwright drives /usr/bin/chromium. These tests are never
skipped; without Chromium they fail.
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from invitations.models import Invitation, InvitationEvent
from tests.browser.conftest import log_in, row_checkbox
from tests.factories import InvitationFactory, OrganizationFactory, StaffUserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db):
    now = timezone.now()
    acme = OrganizationFactory(slug="acme")
    globex = OrganizationFactory(slug="globex")
    return {
        "org": acme,
        "eligible": InvitationFactory(organization=acme, sent_at=now - timedelta(minutes=10)),
        "cooldown": InvitationFactory(organization=acme, sent_at=now - timedelta(seconds=30)),
        "delivered": InvitationFactory(organization=acme, status=Invitation.Status.DELIVERED),
        "elsewhere": [InvitationFactory(organization=globex, sent_at=now - timedelta(minutes=10)) for _ in range(2)],
    }


def test_an_agent_with_the_permission_filters_selects_three_and_resends_and_sees_the_totals(page, acme):
    agent = StaffUserFactory(
        username="agent-ana", permissions=("invitations.view_invitation", "invitations.resend_invitation")
    )
    log_in(page, "agent-ana")
    page.goto("/admin/invitations/invitation/")
    page.locator("#changelist-filter a", has_text=re.compile(r"^acme$")).click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
    for other in acme["elsewhere"]:
        expect(page.locator(f"text={other.token}")).to_have_count(0)

    for kind in ("eligible", "cooldown", "delivered"):
        row_checkbox(page, acme[kind]).check()
    page.select_option("select[name=action]", "resend")
    page.click("button[name=index]")

    # One summary of totals, whatever the number of rows.
    messages = page.locator("ul.messagelist li")
    # The summary, then each refused invitation by name with its reason.
    expect(messages).to_have_count(3)
    expect(messages.first).to_have_text("Resend: 1 of 3 invitations resent. Not resent: 1 cooldown, 1 wrong status.")
    expect(page.locator("ul.messagelist")).to_contain_text(f"Invitation {acme['cooldown'].token}: not resent.")
    expect(page.locator("ul.messagelist")).to_contain_text(f"Invitation {acme['delivered'].token}: not resent.")

    resends = InvitationEvent.objects.filter(reason="resend")
    assert resends.count() == 1
    event = resends.get()
    assert event.invitation_id == acme["eligible"].pk
    assert (event.actor_kind, event.actor_user_id, event.actor_label) == ("staff", agent.pk, "staff:agent-ana")
    assert Invitation.objects.get(pk=acme["eligible"].pk).status == Invitation.Status.PENDING
    assert Invitation.objects.get(pk=acme["cooldown"].pk).status == Invitation.Status.SENT
    assert Invitation.objects.get(pk=acme["delivered"].pk).status == Invitation.Status.DELIVERED


def test_the_resend_button_on_the_detail_page_resends_and_shows_the_attempt_and_audit_row(page, acme):
    StaffUserFactory(username="agent-bo", permissions=("invitations.view_invitation", "invitations.resend_invitation"))
    log_in(page, "agent-bo")
    page.goto(f"/admin/invitations/invitation/{acme['eligible'].pk}/change/")
    page.click("#resend-button")
    expect(page.locator("ul.messagelist li")).to_contain_text(f"Invitation {acme['eligible'].token}: resent")
    expect(page.locator("body")).to_contain_text("Send attempt 2 requested.")
    expect(page.locator("body")).to_contain_text("staff:agent-bo")
    assert InvitationEvent.objects.filter(reason="resend", actor_label="staff:agent-bo").count() == 1


def test_a_staff_user_without_the_permission_sees_no_resend(page, acme):
    StaffUserFactory(username="viewer-vic", permissions=("invitations.view_invitation",))
    log_in(page, "viewer-vic")
    page.goto("/admin/invitations/invitation/")
    expect(page.locator("#result_list tbody tr")).to_have_count(5)
    expect(page.locator("select[name=action] option[value=resend]")).to_have_count(0)
    expect(page.get_by_text("Resend selected invitations")).to_have_count(0)
    page.goto(f"/admin/invitations/invitation/{acme['eligible'].pk}/change/")
    expect(page.locator("#content h1, #content h2").first).to_be_visible()
    expect(page.locator("#resend-button")).to_have_count(0)
    expect(page.get_by_role("button", name="Resend")).to_have_count(0)
    assert not InvitationEvent.objects.exists()


def test_an_agent_lifts_a_suppression_then_sends_a_failed_invitation_again(page, transactional_db):
    from delivery.models import DeliveryAttempt
    from suppressions.models import Suppression

    acme = OrganizationFactory(slug="acme")
    failed = InvitationFactory(
        organization=acme, status=Invitation.Status.FAILED, error_message="Recipient refused by the email provider"
    )
    Suppression.objects.create(
        organization=acme,
        livemode=True,
        channel=failed.channel,
        recipient=failed.recipient,
        reason=Suppression.Reason.HARD_BOUNCE,
        created_at=timezone.now() - timedelta(minutes=5),
    )
    StaffUserFactory(
        username="agent-ana",
        permissions=(
            "invitations.view_invitation",
            "invitations.resend_invitation",
            "suppressions.view_suppression",
            "suppressions.delete_suppression",
        ),
    )
    log_in(page, "agent-ana")
    page.goto(f"/admin/invitations/invitation/{failed.pk}/change/")
    expect(page.locator("#lift-button")).to_be_visible()
    expect(page.locator("#send-again-button")).to_be_visible()
    page.click("#send-again-button")  # still suppressed: refused, and the page says why
    expect(page.locator("ul.messagelist li.error")).to_contain_text("suppressed")
    page.click("#lift-button")
    expect(page.locator("#lift-button")).to_have_count(0)
    page.click("#send-again-button")
    expect(page.locator("ul.messagelist li.success")).to_have_text(
        f"Invitation {failed.token}: a send to {failed.recipient} is queued."
    )
    failed.refresh_from_db()
    assert (failed.status, failed.delivery_attempts) == (Invitation.Status.PENDING, 2)
    assert DeliveryAttempt.objects.filter(invitation=failed).count() == 1
    expect(page.locator("#send-again-button")).to_have_count(0)  # pending now: nothing to send again
