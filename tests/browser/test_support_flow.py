"""The support flow for a bounced invitation in a real headless Chromium against the live server,
its email through anymail's Postmark backend to a Postmark-compatible server on 127.0.0.1 and a real
rq worker: find it by its address, read why it failed, correct the recipient, see the new send
accepted on the timeline; lift a suppression; a bulk cancel asks first."""

import pytest
from django.test import Client
from playwright.sync_api import Page, expect

from accounts.principals import Actor
from invitations.models import Invitation
from invitations.services import invitation_create
from suppressions.models import Suppression
from tests.browser.conftest import log_in, row_checkbox
from tests.conftest import postmark_record, postmark_webhook
from tests.factories import OrganizationFactory, StaffUserFactory

pytestmark = pytest.mark.browser

AGENT_PERMISSIONS = (
    "invitations.view_invitation",
    "invitations.resend_invitation",
    "invitations.cancel_invitation",
    "suppressions.view_suppression",
    "suppressions.delete_suppression",
)
HARD_BOUNCE = {"Type": "HardBounce", "TypeCode": 1, "Description": "The mailbox does not exist (550 user unknown)."}


def bounced(organization, recipient: str, run_worker) -> Invitation:
    """Created, sent to the Postmark-compatible server, then reported as a hard bounce."""
    invitation = invitation_create(
        organization=organization, livemode=True, channel="email", recipient=recipient, actor=Actor.system("tests")
    )
    run_worker()
    attempt = invitation.delivery_attempts_set.select_related("invitation").get()
    assert postmark_webhook(Client(), postmark_record("Bounce", attempt, **HARD_BOUNCE)).status_code == 200
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.FAILED
    return invitation


@pytest.fixture
def agent(transactional_db):
    return StaffUserFactory(username="agent-ana", permissions=AGENT_PERMISSIONS)


def test_an_agent_finds_a_bounced_invitation_reads_why_and_corrects_the_recipient(
    page: Page, agent, fake_postmark, run_worker
):
    organization = OrganizationFactory(slug="acme")
    invitation = bounced(organization, "ana@exmaple.com", run_worker)
    log_in(page, "agent-ana")

    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto("/admin/invitations/invitation/")
    # The list, its failure column included, fits the screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 1400
    page.fill("#searchbar", "ana@exmaple")
    page.press("#searchbar", "Enter")
    row = page.locator("#result_list tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.field-failure")).to_contain_text("Email bounced")
    row.locator(f"a:has-text('{invitation.token}')").click()

    situation = page.locator(".field-situation")
    expect(situation).to_contain_text("The send failed for good")
    expect(situation).to_contain_text("ana@exmaple.com is suppressed since")
    expect(situation).to_contain_text("hard bounce")
    expect(page.locator("#resend-button")).to_have_count(0)  # it could not succeed

    page.click("#correct-button")
    page.fill("#id_recipient", "ana@example.com")
    page.click("#review-correction")
    expect(page.locator("#correct-question")).to_contain_text("to ana@example.com by email instead of ana@exmaple.com")
    page.click("#confirm-correction")
    expect(page.locator("ul.messagelist li")).to_contain_text(
        "recipient corrected; a send to ana@example.com is queued"
    )

    run_worker()
    page.reload()
    timeline = page.locator(".field-timeline")
    expect(timeline).to_contain_text("send #2 (email)")
    expect(timeline.locator("tr", has_text="send #2").filter(has_text="accepted")).to_have_count(1)
    expect(timeline).to_contain_text("recipient_corrected")
    invitation.refresh_from_db()
    assert (invitation.status, invitation.recipient, invitation.delivery_attempts) == (
        Invitation.Status.SENT,
        "ana@example.com",
        2,
    )
    assert [message["To"] for message in fake_postmark.messages] == ["ana@exmaple.com", "ana@example.com"]


def test_an_agent_lifts_a_suppression_from_the_invitations_page(page: Page, agent, fake_postmark, run_worker):
    invitation = bounced(OrganizationFactory(slug="acme"), "bo@example.com", run_worker)
    log_in(page, "agent-ana")
    page.goto(f"/admin/invitations/invitation/{invitation.pk}/change/")
    page.click("#lift-button")
    expect(page.locator("ul.messagelist li")).to_contain_text("Suppression of bo@example.com lifted")
    expect(page.locator(".field-situation")).not_to_contain_text("is suppressed")
    suppression = Suppression.objects.get()
    assert suppression.lifted_at is not None and suppression.lifted_by_label == "staff:agent-ana"


def test_a_bulk_cancel_asks_first(page: Page, agent, fake_postmark, run_worker):
    organization = OrganizationFactory(slug="acme")
    rows = [
        invitation_create(
            organization=organization,
            livemode=True,
            channel="email",
            recipient=f"p{i}@example.com",
            actor=Actor.system("t"),
        )
        for i in range(2)
    ]
    log_in(page, "agent-ana")
    page.goto("/admin/invitations/invitation/")
    for invitation in rows:
        row_checkbox(page, invitation).check()
    page.select_option("select[name=action]", "cancel")
    page.click("button[name=index]")
    expect(page.locator("#cancel-count")).to_contain_text("Cancel 2 invitations?")
    assert not Invitation.objects.filter(status=Invitation.Status.CANCELED).exists()
    page.click("#confirm-cancel")
    expect(page.locator("ul.messagelist li")).to_have_text("Cancel: 2 of 2 invitations canceled.")
    assert Invitation.objects.filter(status=Invitation.Status.CANCELED).count() == 2
