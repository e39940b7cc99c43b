"""Messages in the recipient's language: the email (subject, text, HTML, <html lang>, Content-Language),
the SMS (one GSM-7 segment) and the link's pages, for every shipped language."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone, translation

from delivery import sms
from delivery.channels import render
from delivery.models import DeliveryAttempt
from invitations.languages import language_shown
from invitations.models import Invitation
from tests.factories import InvitationFactory, OrganizationFactory, WorkflowFactory

pytestmark = pytest.mark.django_db

SHIPPED = ["en", "de", "fr", "es", "it", "nl", "pt", "pt-BR", "sv", "da", "pl"]
# As long as an organization's name is likely to be, and a link on a production-length host.
LONG_NAME = "Nordbank Privatkunden Services"
PRODUCTION_BASE_URL = "https://verify-eu.invitations.example.com"


def rendered(locale: str, channel: str = "email", **invitation):
    inv = InvitationFactory(locale=locale, channel=channel, **invitation)
    if channel == "sms":
        inv.recipient = "+4915112345678"
    return render(DeliveryAttempt(invitation=inv, number=1, channel=channel, recipient=inv.recipient, livemode=True))


def create_and_send(api, run_worker, django_capture_on_commit_callbacks, *, locale, channel="email"):
    recipient = "ana@example.com" if channel == "email" else "+4915112345678"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/v1/autodoc/invitations", {"channel": channel, "recipient": recipient, "locale": locale}, format="json"
        )
    assert response.status_code == 201, response.content
    run_worker()
    return response.json()


def test_a_german_invitation_is_sent_in_german_by_email_and_sms(api, run_worker, django_capture_on_commit_callbacks):
    create_and_send(api, run_worker, django_capture_on_commit_callbacks, locale="de")
    [message] = mail.outbox
    assert message.subject.endswith("bittet Sie, Ihre Identität zu bestätigen")
    assert "Guten Tag," in message.body and "hat Sie eingeladen, Ihre Identität zu bestätigen." in message.body
    assert re.search(r"gilt bis zum \d{1,2}\. \w+ \d{4}\.", message.body)  # a German date
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and '<html lang="de">' in html and "Identität bestätigen</a>" in html
    assert message.extra_headers["Content-Language"] == "de"

    create_and_send(api, run_worker, django_capture_on_commit_callbacks, locale="de", channel="sms")
    [text] = [m.body for m in sms.outbox]
    assert ": Bestätigen Sie Ihre Identität unter http" in text


@pytest.mark.parametrize(
    ("locale", "language"), [("pt-BR", "pt-BR"), ("pt-PT", "pt"), ("xx", "en"), ("de-AT", "de"), ("FR", "fr")]
)
def test_a_tag_gets_its_own_catalogue_else_its_languages_else_english(locale, language):
    assert language_shown(locale) == language
    message = rendered(locale)
    assert message.language == language
    assert f'<html lang="{language}">' in message.html
    with translation.override(language):
        assert translation.gettext("Verify my identity") in message.html


def test_pt_br_has_its_own_catalogue_pt_stays_european_and_xx_is_sent_in_english(
    api, run_worker, django_capture_on_commit_callbacks
):
    bodies = [
        create_and_send(api, run_worker, django_capture_on_commit_callbacks, locale=locale)
        for locale in ("pt_br", "PT", "xx")
    ]
    brazilian, european, english = mail.outbox
    assert brazilian.subject.endswith("pede que você verifique sua identidade")
    assert brazilian.extra_headers["Content-Language"] == "pt-BR"
    assert european.subject.endswith("solicita a verificação da sua identidade")
    assert english.subject.endswith("asks you to verify your identity")
    assert english.extra_headers["Content-Language"] == "en"
    # Stored in canonical form; the API says which language was used.
    assert [(body["locale"], body["language"]) for body in bodies] == [("pt-BR", "pt-BR"), ("pt", "pt"), ("xx", "en")]


@pytest.mark.parametrize(
    ("locale", "written"),
    [("it", "2 marzo 2026"), ("pt", "2 de março de 2026"), ("pt-BR", "2 de março de 2026"), ("de", "2. März 2026")],
)
def test_a_date_in_a_message_is_written_as_its_language_writes_it(locale, written):
    expires = datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert f" {written}" in rendered(locale, expires_at=expires).text


def long_named_sms_invitation(settings, language: str) -> Invitation:
    """An SMS invitation of an organization with a long name, its link on a production-length host."""
    settings.PUBLIC_BASE_URL = PRODUCTION_BASE_URL
    organization = OrganizationFactory(name=LONG_NAME)
    workflow = WorkflowFactory(organization=organization)
    return InvitationFactory(locale=language, channel="sms", organization=organization, workflow=workflow)


@pytest.mark.parametrize("language", SHIPPED)
def test_every_reminder_sms_says_so_and_fits_one_gsm7_segment(settings, language):
    invitation = long_named_sms_invitation(settings, language)
    attempt = DeliveryAttempt(
        invitation=invitation,
        number=2,
        channel="sms",
        recipient="+1",
        livemode=True,
        requested_by_kind="system",
        requested_by_label="reminder",
    )
    text, first = render(attempt).text, render(DeliveryAttempt(invitation=invitation, number=1, channel="sms")).text
    assert text != first and text.endswith(first.split(LONG_NAME, 1)[1])
    assert sms.sms_segments(text) == ("GSM-7", 1), (len(text), text)


@pytest.mark.parametrize("language", SHIPPED[1:])
def test_every_shipped_language_translates_the_whole_email(language):
    english, translated = rendered("en"), rendered(language)
    assert translated.subject != english.subject
    english_lines = {line.strip() for line in english.text.splitlines() if line.strip()}
    translated_lines = {line.strip() for line in translated.text.splitlines() if line.strip()}
    assert english_lines & translated_lines == set()
    assert f'<html lang="{language}">' in translated.html


@pytest.mark.parametrize("language", SHIPPED)
def test_every_sms_fits_one_gsm7_segment_with_a_long_name_and_a_production_link(settings, language):
    invitation = long_named_sms_invitation(settings, language)
    text = render(DeliveryAttempt(invitation=invitation, number=1, channel="sms", recipient="+1", livemode=True)).text
    assert invitation.link in text and LONG_NAME in text
    assert (len(LONG_NAME), len(invitation.link)) == (30, 72)
    assert sms.sms_segments(text) == ("GSM-7", 1), (len(text), text)


def test_the_compiled_catalogs_hold_every_translation_of_their_po_files():
    for language in SHIPPED[1:]:
        po = (
            Path(settings.BASE_DIR) / "locale" / translation.to_locale(language) / "LC_MESSAGES" / "django.po"
        ).read_text()
        pairs = re.findall(r'^msgid "(.+)"\nmsgstr "(.+)"$', po, flags=re.MULTILINE)
        assert len(pairs) >= 20, language
        with translation.override(language):
            for msgid, msgstr in pairs:
                assert translation.gettext(msgid.replace('\\"', '"')) == msgstr.replace('\\"', '"'), (language, msgid)


@pytest.mark.parametrize(
    ("status_kwargs", "page_text"),
    [
        ({"expires_at": timezone.now() - timedelta(days=1)}, "Diese Einladung ist abgelaufen"),
        ({"status": Invitation.Status.CANCELED}, "Diese Einladung wurde zurückgezogen"),
    ],
    ids=["expired", "withdrawn"],
)
def test_the_recipients_page_is_in_the_invitations_language(client, status_kwargs, page_text):
    invitation = InvitationFactory(locale="de", **status_kwargs)
    response = client.get(f"/i/{invitation.token}", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 410
    assert response["Content-Language"] == "de"
    page = response.content.decode()
    assert '<html lang="de">' in page and page_text in page


@pytest.mark.parametrize(
    ("accept", "language", "heading"),
    [("fr-CH, de;q=0.5", "fr", "Nous n’avons pas trouvé cette invitation"), ("", "en", "We could not find")],
)
def test_an_unknown_link_answers_in_the_browsers_language(client, accept, language, heading):
    response = client.get("/i/adi_unknown", HTTP_ACCEPT_LANGUAGE=accept)
    assert (response.status_code, response["Content-Language"]) == (404, language)
    page = response.content.decode()
    assert f'<html lang="{language}">' in page and heading in page


def test_plain_text_is_written_as_is_and_only_the_html_is_escaped():
    name = 'AT&T <Support> "O\'Neil"'
    workflow = WorkflowFactory(organization=OrganizationFactory(name=name))
    email = rendered("en", workflow=workflow, organization=workflow.organization)
    assert email.subject == f"{name} asks you to verify your identity"
    assert f"{name} has invited you to verify your identity." in email.text
    assert "&amp;" not in email.text and "&lt;" not in email.text
    assert "AT&amp;T &lt;Support&gt;" in email.html and "<Support>" not in email.html
    text = rendered("en", channel="sms", workflow=workflow, organization=workflow.organization).text
    assert text.startswith(f"{name}: verify your identity at ")
