"""The console's Delivery health page: first on the home page, its charts and tables, each failure
reason's count a link to exactly its invitations, and Send these again (a dry run, a confirmation,
one summary) through the bulk resend service. Real sends to a Postmark-compatible server on
127.0.0.1 that is down, then up again."""

import html
import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from delivery import failover
from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from tests.conftest import TEST_ACTOR, client_for
from tests.helpers import created

pytestmark = pytest.mark.django_db

HEALTH = "/admin/delivery/health/"


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.DELIVERY_STATS_INTERVAL_SECONDS = 0
    settings.DELIVERY_RETRY_INTERVALS = []  # a failed try fails for good
    settings.PROVIDER_FAILURE_THRESHOLD = 100
    for provider in failover.providers("email"):
        failover.record_success(provider)


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def outage(api, organization, other_organization, fake_postmark, run_worker, django_capture_on_commit_callbacks):
    """Postmark down: two of the organization's sends and one of another organization's fail for good;
    one more of the organization's is refused for its address (another reason)."""
    from accounts.services import api_key_create

    captured = django_capture_on_commit_callbacks
    other_api = client_for(
        api_key_create(organization=other_organization, livemode=True, name="k", actor=TEST_ACTOR)[1]
    )
    fake_postmark.inactive = {"gone@example.com"}
    ours = [created(api, captured, recipient=f"p{n}@example.com") for n in range(2)]
    refused = created(api, captured, recipient="gone@example.com")
    with captured(execute=True):
        run_worker()  # the refusal goes while Postmark answers
    fake_postmark.down = True
    ours += [created(api, captured, recipient=f"q{n}@example.com") for n in range(2)]
    theirs = created(other_api, captured, recipient="them@example.com")
    with captured(execute=True):
        run_worker()
    fake_postmark.down = False
    return ours[2:], refused, theirs


def reason_rows(page: str) -> list[tuple[str, int, str, str]]:
    """(reason, count, list link, send-again link) per row of the page's failure reasons."""
    rows = re.findall(
        r'<tr><td>(.*?)</td><td class="number"><a href="([^"]+)" class="reason-link">(\d+)</a></td>\s*'
        r'<td>(?:<a href="([^"]+)" class="button send-again-link">)?',
        page,
    )
    return [(html.unescape(r), int(n), html.unescape(link), html.unescape(again)) for r, link, n, again in rows]


def listed(staff: Client, link: str) -> set[str]:
    answer = staff.get(link)
    assert answer.status_code == 200
    return {invitation.token for invitation in answer.context["cl"].queryset}


def test_the_home_page_leads_with_delivery_health_which_draws_its_figures(staff, outage, organization):
    index = staff.get(reverse("admin:index")).content.decode()
    assert index.index('id="delivery-health-link"') < index.index("app-invitations")
    page = staff.get(f"{HEALTH}?period=24h&mode=live&organization={organization.pk}")
    assert page.status_code == 200
    text = page.content.decode()
    # Three charts, inline SVG with no script; the numbers under them.
    charts = re.findall(
        r'<svg xmlns="http://www.w3.org/2000/svg" id="chart-[^"]+" class="pygal-chart".*?</svg>', text, re.S
    )
    assert len(charts) == 3 and not any("<script" in chart for chart in charts)
    assert "Sends by outcome, per hour (UTC)" in text and "Hour starting (UTC)" in text
    health = page.context["health"]
    assert (health.totals.failed, health.totals.accepted) == (3, 2)
    # The bars' values are the table's numbers: per outcome, every hour's count in order.
    drawn = [int(value) for value in re.findall(r'<desc class="value">(\d+)</desc>', charts[0])]
    table = re.search(r'<table class="health-figures" id="outcomes-table">.*?</table>', text, re.S).group(0)
    rows = [re.findall(r'<td class="number">(\d+)</td>', row) for row in re.findall(r"<tr><td>.*?</tr>", table)]
    assert len(rows) == 24
    assert drawn == [int(row[index]) for index in (1, 0, 2, 3) for row in rows]  # delivered, accepted, ...
    assert 'id="outbox-table"' in text and "resting providers" in text
    assert [reason for reason, _n in health.suppressions_by_reason] == ["hard_bounce"]  # the refused address
    assert page.context["suppressions"] == [("hard bounce", 1)]
    # 7 and 30 days by day; sandbox is apart.
    week = staff.get(f"{HEALTH}?period=7d&mode=live").context["health"]
    assert len(week.buckets) == 7 and week.totals.failed == 4
    assert staff.get(f"{HEALTH}?period=24h&mode=sandbox").context["health"].totals.total == 0


def test_each_reason_links_to_exactly_its_invitations_in_the_organization_or_all(staff, outage, organization):
    down, refused, theirs = outage
    page = staff.get(f"{HEALTH}?period=24h&mode=live&organization={organization.pk}").content.decode()
    rows = reason_rows(page)
    assert sorted(n for _r, n, _l, _a in rows) == [1, 2]
    by_count = {n: (reason, link) for reason, n, link, _a in rows}
    assert listed(staff, by_count[2][1]) == {i.token for i in down}
    assert listed(staff, by_count[1][1]) == {refused.token}
    everyone = reason_rows(staff.get(f"{HEALTH}?period=24h&mode=live").content.decode())
    [(_reason, count, link, _again)] = [row for row in everyone if row[0] == by_count[2][0]]
    assert count == 3 and listed(staff, link) == {i.token for i in down} | {theirs.token}
    # The same link, sandbox: none.
    assert listed(staff, link.replace("mode=live", "mode=sandbox")) == set()


def test_send_these_again_previews_confirms_and_sends_through_the_bulk_service(
    staff, outage, organization, run_worker, django_capture_on_commit_callbacks
):
    down, refused, theirs = outage
    page = staff.get(f"{HEALTH}?period=24h&mode=live&organization={organization.pk}").content.decode()
    by_count = {n: again for _r, n, _l, again in reason_rows(page)}
    preview = staff.get(by_count[2])
    assert preview.status_code == 200 and preview.context["would_send"] == 2
    assert dict((label, n) for label, n, _e in preview.context["rows"])["resent"] == 2
    assert DeliveryAttempt.objects.count() == 6  # the dry run changed nothing
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', preview.content.decode()))
    form = {name: html.unescape(value) for name, value in form.items()}
    with django_capture_on_commit_callbacks(execute=True):
        answer = staff.post(by_count[2].split("?")[0], form)
    assert answer.status_code == 302
    assert [str(m) for m in get_messages(answer.wsgi_request)] == [
        "Send these again: 2 of 2 failed invitations sent again."
    ]
    run_worker()
    for invitation in down:
        invitation.refresh_from_db()
        assert (invitation.status, invitation.delivery_attempts) == (Invitation.Status.SENT, 2)
        assert InvitationEvent.objects.filter(invitation=invitation, actor_label__contains="admin").exists()
    theirs.refresh_from_db()
    assert (theirs.status, theirs.delivery_attempts) == (Invitation.Status.FAILED, 1)
    # The refused address is suppressed: its preview says so and offers nothing to confirm.
    refusal = staff.get(by_count[1])
    assert refusal.context["would_send"] == 0 and "Yes, send" not in refusal.content.decode()
    assert dict((label, n) for label, n, _e in refusal.context["rows"])["suppressed (recipient)"] == 1


def test_staff_without_the_permissions_see_neither(organization, db):
    from tests.factories import StaffUserFactory

    client = Client()
    client.force_login(StaffUserFactory())
    assert client.get(HEALTH).status_code == 403
    assert client.get(HEALTH + "send-again/").status_code == 403
