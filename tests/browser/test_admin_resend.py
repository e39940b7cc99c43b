"""The support console in a real headless Chromium (Debian's), against the live server.

Nothing here downloads a browser: Playwright drives /usr/bin/chromium. These tests are never
skipped; without Chromium they fail.
"""

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect, sync_playwright

from invitations.models import Invitation, InvitationEvent
from tests.factories import InvitationFactory, OrganizationFactory, StaffUserFactory

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "agent-password"


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes between
    # browser steps are still plain synchronous calls, so Django's async-safety guard is lifted here only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-background-networking"]
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def log_in(page: Page, username: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(username.upper(), ignore_case=True)


def row_checkbox(page: Page, invitation: Invitation):
    return page.locator("#result_list tbody tr", has=page.locator(f"text={invitation.token}")).locator(
        "input.action-select"
    )


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


def test_an_agent_with_the_permission_filters_selects_three_and_resends_and_sees_each_outcome(page, acme):
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

    messages = page.locator("ul.messagelist li")
    expect(messages).to_have_count(3)
    # Each message names its invitation's token exactly as it is (tokens are case-sensitive).
    by_token = {text.split()[1].rstrip(":"): text.strip() for text in messages.all_inner_texts()}
    assert set(by_token) == {acme[kind].token for kind in ("eligible", "cooldown", "delivered")}
    assert by_token[acme["eligible"].token] == f"Invitation {acme['eligible'].token}: resent; send attempt 2 queued."
    assert re.fullmatch(
        rf"Invitation {acme['cooldown'].token}: not resent\. This invitation was sent less than 180 seconds ago; "
        r"wait before resending it \(remaining_seconds=1[0-9]{2}\)",
        by_token[acme["cooldown"].token],
    )
    assert by_token[acme["delivered"].token] == (
        f"Invitation {acme['delivered'].token}: not resent. Only sent invitations can be resent; this one is "
        "delivered: the recipient has already engaged; resending would create confusion."
    )

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
