"""The support console's Resend: the API's rules and audit, one summary of totals for a bulk run and
the rule's own message for the page's button, permission and CSRF."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from delivery.models import DeliveryAttempt
from invitations.exceptions import CooldownActive
from invitations.models import Invitation, InvitationEvent
from invitations.rules import resend_refusal
from tests.factories import StaffUserFactory
from tests.helpers import T0
from tests.helpers import sent_invitation as invitation

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:invitations_invitation_changelist")
RESEND_PERMS = ("invitations.view_invitation", "invitations.resend_invitation")


@pytest.fixture
def agent():
    return StaffUserFactory(username="agent-ana", permissions=RESEND_PERMS)


@pytest.fixture
def viewer():
    return StaffUserFactory(username="viewer-vic", permissions=("invitations.view_invitation",))


def logged_in(user, *, enforce_csrf=False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def post_action(client, invitations, *, action="resend", path=CHANGELIST, **extra):
    data = {"action": action, "index": 0, "_selected_action": [i.pk for i in invitations], **extra}
    return client.post(path, data, follow=True)


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def three(organization):
    return {
        "eligible": invitation(organization),
        "cooldown": invitation(organization, sent_at=T0 - timedelta(seconds=30)),
        "delivered": invitation(organization, status=Invitation.Status.DELIVERED),
    }


def test_the_resend_action_ends_with_a_summary_and_names_each_refused_invitation_and_why(
    agent, three, django_capture_on_commit_callbacks
):
    client = logged_in(agent)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = post_action(client, three.values())
    assert response.status_code == 200
    summary, *named = messages_of(response)
    assert summary == ("warning", "Resend: 1 of 3 invitations resent. Not resent: 1 cooldown, 1 wrong status.")
    assert sorted(named) == sorted(
        [
            ("warning", f"Invitation {three['cooldown'].token}: not resent. {cooldown_message(150)}"),
            ("warning", f"Invitation {three['delivered'].token}: not resent. {refusal_message(three['delivered'])}"),
        ]
    )


def test_a_bulk_resend_of_more_than_twenty_counts_the_refusals_by_reason_without_naming_them(
    agent, organization, django_capture_on_commit_callbacks
):
    selected = [invitation(organization, sent_at=T0 - timedelta(seconds=30)) for _ in range(21)]
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        response = post_action(logged_in(agent), selected, confirm="yes")
    assert messages_of(response) == [("warning", "Resend: 0 of 21 invitations resent. Not resent: 21 cooldown.")]


def cooldown_message(remaining: int) -> str:
    return str(CooldownActive(remaining_seconds=remaining))


def refusal_message(invitation) -> str:
    with time_machine.travel(T0, tick=False):
        return str(resend_refusal(invitation=invitation, now=T0))


@pytest.mark.parametrize(
    "kwargs, sentence",
    [
        ({}, "Resend possible now, 9 sends left."),
        ({"sent_at": T0 - timedelta(seconds=30)}, "Resend possible at 2026-03-02 09:02:30 UTC, 9 sends left."),
        ({"delivery_attempts": 10}, "Not resendable: "),
        ({"status": Invitation.Status.OPENED}, "Not resendable: "),
    ],
)
def test_the_invitation_page_says_when_a_resend_becomes_possible_or_why_it_never_will(
    agent, organization, kwargs, sentence
):
    shown = invitation(organization, **kwargs)
    with time_machine.travel(T0, tick=False):
        page = logged_in(agent).get(reverse("admin:invitations_invitation_change", args=[shown.pk]))
        refusal = resend_refusal(invitation=shown, now=T0)
    assert sentence in page.content.decode()
    if refusal is not None and not isinstance(refusal, CooldownActive):
        assert escape(f"Not resendable: {refusal.message}") in page.content.decode()


def test_the_resend_action_writes_the_apis_audit_row_with_the_staff_user_as_actor(agent, three, delivery_queue):
    client = logged_in(agent)
    with time_machine.travel(T0, tick=False):
        post_action(client, three.values())
    event = InvitationEvent.objects.get()
    assert event.invitation_id == three["eligible"].pk
    assert (event.from_status, event.to_status, event.reason) == ("sent", "pending", "resend")
    assert (event.actor_kind, event.actor_label, event.actor_user_id) == ("staff", "staff:agent-ana", agent.pk)
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.invitation_id, attempt.number, attempt.status) == (three["eligible"].pk, 2, "queued")
    for kind in ("cooldown", "delivered"):
        refused = Invitation.objects.get(pk=three[kind].pk)
        assert refused.delivery_attempts == 1 and refused.status == three[kind].status


@pytest.mark.parametrize(
    "overrides, phrase",
    [
        ({"delivery_attempts": 10}, "maximum of 10 send attempts"),
        ({"expires_at": T0 - timedelta(seconds=1)}, "has expired and cannot be resent"),
        ({"status": Invitation.Status.PENDING}, "still in flight"),
        ({"status": Invitation.Status.FAILED}, "correct the recipient"),
    ],
)
def test_every_refusal_rule_is_reported_by_its_own_message_on_the_page(agent, organization, overrides, phrase):
    refused = invitation(organization, **overrides)
    with time_machine.travel(T0, tick=False):
        response = logged_in(agent).post(reverse("admin:invitations_invitation_resend", args=[refused.pk]), follow=True)
    [(level, message)] = messages_of(response)
    assert level == "warning"
    assert message.startswith(f"Invitation {refused.token}: not resent.") and phrase in message
    assert not InvitationEvent.objects.exists()


def test_staff_without_the_permission_see_no_resend_and_cannot_post_it(viewer, three):
    client = logged_in(viewer)
    with time_machine.travel(T0, tick=False):
        listing = client.get(CHANGELIST)
        detail = client.get(reverse("admin:invitations_invitation_change", args=[three["eligible"].pk]))
        posted = post_action(client, three.values())
        button = client.post(reverse("admin:invitations_invitation_resend", args=[three["eligible"].pk]))
    assert listing.status_code == 200
    assert 'value="resend"' not in listing.content.decode()
    assert detail.status_code == 200
    assert 'id="resend-button"' not in detail.content.decode()
    assert "/resend/" not in detail.content.decode()
    assert not any("resent" in message for _, message in messages_of(posted))
    assert button.status_code == 403
    assert not InvitationEvent.objects.exists()


def test_staff_with_the_permission_see_the_action_and_the_button_where_a_resend_can_succeed(agent, three):
    client = logged_in(agent)
    with time_machine.travel(T0, tick=False):
        listing = client.get(CHANGELIST).content.decode()
        detail = client.get(
            reverse("admin:invitations_invitation_change", args=[three["eligible"].pk])
        ).content.decode()
        cooling = client.get(
            reverse("admin:invitations_invitation_change", args=[three["cooldown"].pk])
        ).content.decode()
    assert '<option value="resend">Resend selected invitations</option>' in listing
    assert 'id="resend-button"' in detail
    assert reverse("admin:invitations_invitation_resend", args=[three["eligible"].pk]) in detail
    assert 'id="resend-button"' not in cooling


def test_the_detail_page_button_resends_and_reports_back_on_the_page(agent, three, delivery_queue):
    client = logged_in(agent)
    url = reverse("admin:invitations_invitation_resend", args=[three["eligible"].pk])
    with time_machine.travel(T0, tick=False):
        response = client.post(url, follow=True)
        again = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("admin:invitations_invitation_change", args=[three["eligible"].pk])
    assert messages_of(response) == [
        ("success", f"Invitation {three['eligible'].token}: resent; send attempt 2 queued.")
    ]
    [(level, message)] = messages_of(again)
    assert level == "warning" and "this one is pending" in message
    assert InvitationEvent.objects.filter(actor_user=agent).count() == 1


def test_the_detail_page_button_does_not_resend_on_get(agent, three):
    response = logged_in(agent).get(reverse("admin:invitations_invitation_resend", args=[three["eligible"].pk]))
    assert response.status_code == 405
    assert not InvitationEvent.objects.exists()


def test_resend_posts_without_a_csrf_token_are_refused(agent, three):
    client = logged_in(agent, enforce_csrf=True)
    with time_machine.travel(T0, tick=False):
        action = client.post(CHANGELIST, {"action": "resend", "index": 0, "_selected_action": [three["eligible"].pk]})
        button = client.post(reverse("admin:invitations_invitation_resend", args=[three["eligible"].pk]))
    assert action.status_code == 403
    assert button.status_code == 403
    assert not InvitationEvent.objects.exists()


def test_a_resend_over_many_rows_asks_for_confirmation_first(agent, organization, settings, delivery_queue):
    settings.ADMIN_RESEND_CONFIRM_ABOVE = 10
    rows = [invitation(organization) for _ in range(11)]
    client = logged_in(agent)
    with time_machine.travel(T0, tick=False):
        first = post_action(client, rows)
        assert first.templates[0].name == "admin/invitations/invitation/bulk_confirmation.html"
        assert "Resend 11 invitations?" in first.content.decode()
        assert not InvitationEvent.objects.exists()
        confirmed = post_action(client, rows, confirm="yes")
    assert InvitationEvent.objects.filter(reason="resend", actor_user=agent).count() == 11
    assert messages_of(confirmed) == [("success", "Resend: 11 of 11 invitations resent.")]


def test_ten_rows_or_fewer_are_resent_without_a_confirmation_page(agent, organization, settings):
    settings.ADMIN_RESEND_CONFIRM_ABOVE = 10
    rows = [invitation(organization) for _ in range(10)]
    with time_machine.travel(T0, tick=False):
        post_action(logged_in(agent), rows)
    assert InvitationEvent.objects.filter(reason="resend").count() == 10


def test_select_across_every_page_is_confirmed_and_resends_exactly_the_filtered_rows(agent, organization, settings):
    settings.ADMIN_RESEND_CONFIRM_ABOVE = 2
    email = [invitation(organization) for _ in range(4)]
    sms = [invitation(organization, channel="sms", recipient=f"+1415555010{i}") for i in range(3)]
    client = logged_in(agent)
    filtered = f"{CHANGELIST}?channel__exact=sms"
    with time_machine.travel(T0, tick=False):
        first = post_action(client, sms[:1], path=filtered, select_across=1)
        assert "Resend 3 invitations?" in first.content.decode()
        post_action(client, sms[:1], path=filtered, select_across=1, confirm="yes")
    resent = set(InvitationEvent.objects.filter(reason="resend").values_list("invitation_id", flat=True))
    assert resent == {i.pk for i in sms}
    assert not resent & {i.pk for i in email}


def test_a_selection_over_the_admin_maximum_is_cut_and_the_summary_says_so(agent, organization, settings):
    settings.ADMIN_RESEND_MAX_ROWS = 3
    rows = [invitation(organization) for _ in range(4)]
    with time_machine.travel(T0, tick=False):
        response = post_action(logged_in(agent), rows, confirm="yes")
    (cut_level, cut), (level, summary) = messages_of(response)
    assert cut_level == "warning" and "cut to its first 3" in cut and "resend_invitations" in cut
    assert (level, summary) == ("success", "Resend: 3 of 3 invitations resent.")
    assert InvitationEvent.objects.count() == 3


def test_a_bulk_cancel_asks_first_then_ends_with_one_summary(organization, settings):
    canceler = StaffUserFactory(permissions=("invitations.view_invitation", "invitations.cancel_invitation"))
    rows = [invitation(organization) for _ in range(3)] + [invitation(organization, status=Invitation.Status.COMPLETED)]
    client = logged_in(canceler)
    first = post_action(client, rows, action="cancel")
    assert first.templates[0].name == "admin/invitations/invitation/bulk_confirmation.html"
    assert "Cancel 4 invitations?" in first.content.decode() and "cannot be undone" in first.content.decode()
    assert not Invitation.objects.filter(status=Invitation.Status.CANCELED).exists()
    confirmed = post_action(client, rows, action="cancel", confirm="yes")
    assert Invitation.objects.filter(status=Invitation.Status.CANCELED).count() == 3
    [(level, message)] = messages_of(confirmed)
    assert level == "warning" and message.startswith("Cancel: 3 of 4 invitations canceled. Not canceled: 1")


def test_the_detail_page_shows_attempts_and_audit_events_read_only(
    agent, organization, django_capture_on_commit_callbacks
):
    item = invitation(organization)
    client = logged_in(agent)
    with time_machine.travel(T0, tick=False):
        client.post(reverse("admin:invitations_invitation_resend", args=[item.pk]))
        page = client.get(reverse("admin:invitations_invitation_change", args=[item.pk])).content.decode()
    assert "Delivery attempts" in page and "Audit events" in page
    assert "staff:agent-ana" in page
    assert "Send attempt 2 requested." in page
    # Read-only: no save buttons, no editable inputs for the invitation or its inlines.
    assert 'name="_save"' not in page
    assert 'name="status"' not in page
    assert "deliveryattempt_set-0-status" not in page and "delivery_attempts_set-0-status" not in page


def test_the_changelist_searches_by_token_recipient_and_reference_and_filters(agent, organization, other_organization):
    mine = invitation(organization, recipient="ana@example.com", reference="crm-4711")
    live_sms = invitation(organization, channel="sms", recipient="+14155550100")
    sandbox = invitation(organization, livemode=False)
    expired = invitation(organization, expires_at=T0 - timedelta(days=1))
    theirs = invitation(other_organization)
    client = logged_in(agent)

    def tokens(query: str) -> set[str]:
        with time_machine.travel(T0, tick=False):
            response = client.get(f"{CHANGELIST}?{query}")
        return {i.token for i in response.context["cl"].result_list}

    assert tokens(f"q={mine.token.removeprefix('adi_')}") == {mine.token}
    assert tokens("q=ana@example") == {mine.token}
    assert tokens("q=crm-4711") == {mine.token}
    assert tokens("channel__exact=sms") == {live_sms.token}
    assert tokens("mode=sandbox") == {sandbox.token}
    assert tokens("expired=yes") == {expired.token}
    assert theirs.token not in tokens(f"organization__id__exact={organization.pk}")
    assert tokens(f"organization__id__exact={other_organization.pk}") == {theirs.token}
    assert tokens("status__exact=delivered") == set()


def test_send_again_stands_beside_lift_on_a_failed_for_good_invitation_and_sends_once_lifted(agent, organization):
    from suppressions.models import Suppression

    failed = invitation(organization, status=Invitation.Status.FAILED, error_message="Recipient refused")
    suppression = Suppression.objects.create(
        organization=organization,
        livemode=True,
        channel=failed.channel,
        recipient=failed.recipient,
        reason=Suppression.Reason.HARD_BOUNCE,
        created_at=T0 - timedelta(minutes=5),
    )
    agent.user_permissions.add(*_permissions("suppressions.delete_suppression"))
    client = logged_in(agent)
    page = reverse("admin:invitations_invitation_change", args=[failed.pk])
    send_again = reverse("admin:invitations_invitation_send_again", args=[failed.pk])
    with time_machine.travel(T0, tick=False):
        html = client.get(page).content.decode()
        assert 'id="lift-button"' in html and 'id="send-again-button"' in html
        refused = client.post(send_again, follow=True)
        [(level, message)] = messages_of(refused)
        assert level == "error" and "suppressed" in message
        assert client.get(send_again).status_code == 405  # never on GET
        suppression.lifted_at = T0
        suppression.save(update_fields=["lifted_at"])
        sent = client.post(send_again, follow=True)
    assert messages_of(sent) == [("success", f"Invitation {failed.token}: a send to {failed.recipient} is queued.")]
    failed.refresh_from_db()
    assert (failed.status, failed.delivery_attempts) == (Invitation.Status.PENDING, 2)
    row = InvitationEvent.objects.get(invitation=failed, reason="recipient_corrected")
    assert (row.actor_user_id, row.from_status) == (agent.pk, "failed")
    assert list(DeliveryAttempt.objects.filter(invitation=failed).values_list("recipient", flat=True)) == [
        failed.recipient
    ]


@pytest.mark.parametrize("state", ["retry pending", "sent"])
def test_send_again_is_offered_only_where_the_invitation_failed_for_good(agent, organization, state):
    if state == "sent":
        shown = invitation(organization)
    else:
        shown = invitation(organization, status=Invitation.Status.FAILED)
        DeliveryAttempt.objects.create(
            invitation=shown,
            number=1,
            channel=shown.channel,
            recipient=shown.recipient,
            livemode=True,
            status=DeliveryAttempt.Status.RETRYING,
            tries=1,
            retry_at=T0 + timedelta(minutes=5),
        )
    with time_machine.travel(T0, tick=False):
        html = logged_in(agent).get(reverse("admin:invitations_invitation_change", args=[shown.pk])).content.decode()
    assert 'id="send-again-button"' not in html


def _permissions(*names):
    from django.contrib.auth.models import Permission

    return [
        Permission.objects.get(content_type__app_label=name.split(".")[0], codename=name.split(".")[1])
        for name in names
    ]
