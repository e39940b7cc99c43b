"""The Delivery health page in a real headless Chromium (Debian's), against the live server: its
charts render (a screenshot is kept in test-artifacts/), a failure reason leads to its invitations,
Send these again runs end to end, and so does an Import from CSV. The failures are real: sends to a
Postmark-compatible server on 127.0.0.1 while it is down, through a real rq worker."""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import expect

from delivery import failover
from invitations.models import Invitation
from tests.browser.conftest import log_in
from tests.conftest import client_for
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(django_settings.BASE_DIR) / "test-artifacts"))


@pytest.fixture
def outage(transactional_db, settings, live_key, fake_postmark, run_worker):
    settings.DELIVERY_STATS_INTERVAL_SECONDS = 0
    settings.DELIVERY_RETRY_INTERVALS = []
    settings.PROVIDER_FAILURE_THRESHOLD = 100
    for provider in failover.providers("email"):
        failover.record_success(provider)
    api = client_for(live_key)
    api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": "ok@example.com"}, format="json")
    run_worker()  # one accepted before the outage
    fake_postmark.down = True
    tokens = [
        api.post(
            "/v1/autodoc/invitations", {"channel": "email", "recipient": f"p{n}@example.com"}, format="json"
        ).json()["token"]
        for n in range(2)
    ]
    run_worker()
    fake_postmark.down = False
    assert set(Invitation.objects.exclude(recipient="ok@example.com").values_list("status", flat=True)) == {
        Invitation.Status.FAILED
    }
    return tokens


def test_an_agent_reads_the_page_follows_a_reason_sends_those_again_and_imports_a_file(
    page, outage, organization, run_worker, tmp_path
):
    StaffUserFactory(
        username="agent-health",
        permissions=("invitations.view_invitation", "invitations.resend_invitation", "invitations.add_invitation"),
    )
    log_in(page, "agent-health")
    page.click("#delivery-health-link")
    expect(page.locator("h1")).to_have_text("Delivery health")
    charts = page.locator("svg.pygal-chart")
    expect(charts).to_have_count(3)
    for index in range(3):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 150
    # The chart is drawn: one bar for the hour of the two failures, the legend names each outcome.
    expect(page.locator("#outcomes-chart svg .legends")).to_contain_text("failed")
    expect(page.locator("#health-headline")).to_contain_text("2 failed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "delivery-health.png"), full_page=True)
    assert (ARTIFACTS / "delivery-health.png").read_bytes().startswith(b"\x89PNG")

    # The reason's count leads to exactly those invitations.
    reason = page.locator("#reasons-table tbody tr").first
    expect(reason.locator("a.reason-link")).to_have_text("2")
    reason.locator("a.reason-link").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    for token in outage:
        expect(page.locator("#result_list")).to_contain_text(token)

    # Send these again: the dry run, the confirmation, one summary.
    page.go_back()
    page.locator("#reasons-table a.send-again-link").first.click()
    expect(page.locator("#send-again-preview")).to_contain_text("resent")
    page.click("#confirm-send-again")
    expect(page.locator("ul.messagelist li")).to_have_text("Send these again: 2 of 2 failed invitations sent again.")
    run_worker()
    assert set(Invitation.objects.values_list("status", flat=True)) == {Invitation.Status.SENT}

    # Import from CSV: the list's button, the preview, Create, one summary.
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("channel,recipient,reference\nemail,ana@example.com,crm-1\nemail,nobody,crm-2\n")
    page.goto("/admin/invitations/invitation/")
    page.click("#import-csv-link")
    page.select_option("#id_organization", str(organization.pk))
    page.select_option("#id_mode", "live")
    page.set_input_files("#id_file", str(csv_file))
    page.click("#import-preview-button")
    expect(page.locator("#import-summary")).to_contain_text("1 valid")
    expect(page.locator("#import-preview tbody tr")).to_have_count(2)
    page.click("#import-create")
    expect(page.locator("ul.messagelist li")).to_contain_text("1 of 2 rows created")
    assert Invitation.objects.filter(recipient="ana@example.com", reference="crm-1").count() == 1
