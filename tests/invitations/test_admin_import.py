"""Import from CSV on the console's invitation list: a preview of every row, then Create through
the batch create service with the staff user as actor, one summary; a file that is not CSV, too
large, or with unknown columns is refused whole, with nothing created."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from delivery.models import DeliveryAttempt
from invitations.models import Invitation, InvitationEvent
from suppressions.models import Suppression

pytestmark = pytest.mark.django_db

IMPORT = "/admin/invitations/invitation/import/"


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def upload(staff, organization, content: bytes | str, *, mode: str = "live", name: str = "people.csv"):
    data = content.encode() if isinstance(content, str) else content
    return staff.post(
        IMPORT,
        {"organization": organization.pk, "mode": mode, "file": SimpleUploadedFile(name, data, "text/csv")},
    )


TOMORROW = (timezone.now() + timedelta(days=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
GOOD = (
    "channel,recipient,reference,locale,workflowToken,sendAt\r\n"
    "email,ana@example.com,crm-1,de,,\r\n"
    f"sms,+4915112345678,crm-2,,,{TOMORROW}\r\n"
    "email,not-an-address,crm-3,,,\r\n"
    "fax,bo@example.com,,,,\r\n"
    "email,gone@example.com,crm-5,,,\r\n"
)


@pytest.fixture(autouse=True)
def suppressed(organization):
    return Suppression.objects.create(
        organization=organization,
        livemode=True,
        channel="email",
        recipient="gone@example.com",
        reason=Suppression.Reason.HARD_BOUNCE,
        created_at=timezone.now(),
    )


def test_the_list_offers_import_and_a_preview_checks_every_row_and_creates_nothing(staff, organization):
    assert 'id="import-csv-link"' in staff.get(reverse("admin:invitations_invitation_changelist")).content.decode()
    preview = upload(staff, organization, "\ufeff" + GOOD)  # a byte order mark is allowed
    assert preview.status_code == 200
    outcomes = [(number, outcome) for number, _cells, outcome in preview.context["preview"]]
    assert [number for number, _ in outcomes] == [1, 2, 3, 4, 5]
    assert [outcome == "valid" for _, outcome in outcomes] == [True, True, False, False, False]
    assert "recipient" in outcomes[2][1] and "channel" in outcomes[3][1] and "suppress" in outcomes[4][1].lower()
    assert (preview.context["valid"], preview.context["invalid"]) == (2, 3)
    assert Invitation.objects.count() == 0


def test_create_makes_the_valid_rows_with_the_staff_actor_and_one_summary(
    staff, organization, admin_user, django_capture_on_commit_callbacks
):
    preview = upload(staff, organization, GOOD)
    pending = re.search(r'name="pending" value="([^"]+)"', preview.content.decode()).group(1)
    with django_capture_on_commit_callbacks(execute=False):
        answer = staff.post(IMPORT, {"pending": pending})
    assert answer.status_code == 302
    [summary] = [str(m) for m in get_messages(answer.wsgi_request)]
    assert summary.startswith(f"Import from CSV for {organization.name} (live): 2 of 5 rows created. Not created: 3")
    made = {i.recipient: i for i in Invitation.objects.all()}
    assert set(made) == {"ana@example.com", "+4915112345678"}
    assert (made["ana@example.com"].reference, made["ana@example.com"].locale) == ("crm-1", "de")
    assert made["+4915112345678"].send_at is not None and made["+4915112345678"].livemode
    events = InvitationEvent.objects.filter(invitation__in=made.values())
    assert {(e.actor_kind, e.actor_label) for e in events} == {("staff", f"staff:{admin_user.username}")}
    assert DeliveryAttempt.objects.filter(invitation=made["ana@example.com"]).count() == 1
    # The same preview's Create again (a double click): nothing more.
    again = staff.post(IMPORT, {"pending": pending})
    assert "already created" in [str(m) for m in get_messages(again.wsgi_request)][-1]
    assert Invitation.objects.count() == 2


@pytest.mark.parametrize(
    "content, name, sentence",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "photo.csv", "not CSV"),
        ("channel,recipient,colour\nemail,ana@example.com,red\n", "people.csv", "Unknown column 'colour'"),
        ("channel,reference\nemail,crm-1\n", "people.csv", "missing recipient"),
        ("channel,recipient\n", "people.csv", "no rows"),
        ("channel,recipient\n" + "email,a@example.com\n" * 5001, "people.csv", "too large: 5001 rows"),
        ('channel,recipient\nemail,"ana@example.com\n', "people.csv", "not CSV"),
    ],
)
def test_a_file_that_is_not_csv_too_large_or_with_unknown_columns_is_refused_whole(
    staff, organization, content, name, sentence
):
    answer = upload(staff, organization, content, name=name)
    assert answer.status_code == 200
    errors = " ".join(answer.context["form"].errors["file"])
    assert sentence in errors
    assert "preview" not in answer.context or not answer.context.get("preview")
    assert Invitation.objects.count() == 0


def test_a_file_over_the_byte_limit_is_refused(staff, organization, settings):
    settings.CSV_IMPORT_MAX_BYTES = 100
    answer = upload(staff, organization, "channel,recipient\n" + "email,a@example.com\n" * 10)
    assert "too large" in " ".join(answer.context["form"].errors["file"])


def test_staff_without_the_add_permission_cannot_import(organization):
    from tests.factories import StaffUserFactory

    client = Client()
    client.force_login(StaffUserFactory())
    assert client.get(IMPORT).status_code == 403
