"""Email through Django's SMTP backend against an SMTP server on 127.0.0.1 that answers as real ones
do: a 4xx at RCPT or DATA (greylisting) is tried again, only a 5xx is final, and what people read is
a sentence with the server's code, never a Python repr."""

import socketserver
import threading

import pytest

from delivery import channels
from delivery.models import DeliveryAttempt
from delivery.services.sending import delivery_attempt_send
from invitations.models import Invitation

pytestmark = pytest.mark.django_db


class SmtpServer:
    """Speaks enough SMTP for smtplib; answers RCPT TO and the end of DATA with the replies given."""

    def __init__(self, *, rcpt: str = "250 2.1.5 OK", data: str = "250 2.0.0 Queued"):
        self.rcpt, self.data = rcpt, data
        self.messages: list[bytes] = []
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                self.reply("220 fake.example ESMTP")
                while line := self.rfile.readline():
                    verb = line.decode(errors="replace").strip().split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 fake.example")
                    elif verb == "MAIL":
                        self.reply("250 2.1.0 OK")
                    elif verb == "RCPT":
                        self.reply(server.rcpt)
                    elif verb == "DATA":
                        self.reply("354 Go ahead")
                        body = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            body += chunk
                        server.messages.append(body)
                        self.reply(server.data)
                    elif verb == "QUIT":
                        self.reply("221 Bye")
                        return
                    else:
                        self.reply("250 OK")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp(settings):
    servers = []

    def start(**replies) -> SmtpServer:
        servers.append(SmtpServer(**replies))
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", servers[-1].port
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def send_once(api) -> DeliveryAttempt:
    response = api.post("/v1/autodoc/invitations", {"channel": "email", "recipient": "ana@example.com"}, format="json")
    attempt = DeliveryAttempt.objects.get(invitation__token=response.json()["token"])
    try:
        delivery_attempt_send(attempt_id=attempt.pk)
    except channels.DeliveryError:
        pass  # a transient failure: rq would retry it
    attempt.refresh_from_db()
    return attempt


@pytest.mark.parametrize(
    "replies, error",
    [
        (
            {"rcpt": "451 4.7.1 Greylisted, please try again later"},
            "Recipient refused (451 4.7.1): Greylisted, please try again later",
        ),
        ({"data": "452 4.3.1 Insufficient system storage"}, "Message refused (452 4.3.1): Insufficient system storage"),
        ({"rcpt": "421 Service not available"}, "Recipient refused (421): Service not available"),
    ],
)
def test_an_smtp_4xx_at_rcpt_or_data_is_transient_and_retried(api, smtp, replies, error):
    smtp(**replies)
    attempt = send_once(api)
    assert attempt.status == DeliveryAttempt.Status.RETRYING and attempt.retry_at is not None
    assert attempt.error_message == error
    invitation = Invitation.objects.get(pk=attempt.invitation_id)
    assert invitation.status == Invitation.Status.FAILED and invitation.error_message == error
    response = api.get(f"/v1/autodoc/invitations/{invitation.token}/attempts")
    assert response.json()["data"][0]["errorMessage"] == error


@pytest.mark.parametrize(
    "replies, error",
    [
        ({"rcpt": "550 5.1.1 User unknown"}, "Recipient refused (550 5.1.1): User unknown"),
        ({"data": "554 5.7.1 Message rejected as spam"}, "Message refused (554 5.7.1): Message rejected as spam"),
    ],
)
def test_an_smtp_5xx_is_permanent_and_told_as_a_sentence_with_the_code(api, smtp, replies, error):
    smtp(**replies)
    attempt = send_once(api)
    assert attempt.status == DeliveryAttempt.Status.FAILED and attempt.retry_at is None
    assert attempt.error_message == error
    assert "{" not in attempt.error_message and "b'" not in attempt.error_message


def test_after_a_greylisting_4xx_the_next_try_is_accepted(api, smtp):
    server = smtp(rcpt="451 4.7.1 Greylisted")
    attempt = send_once(api)
    assert attempt.status == DeliveryAttempt.Status.RETRYING
    server.rcpt = "250 2.1.5 OK"
    delivery_attempt_send(attempt_id=attempt.pk)
    attempt.refresh_from_db()
    assert attempt.status == DeliveryAttempt.Status.ACCEPTED and len(server.messages) == 1


def test_a_mail_server_that_cannot_be_reached_is_told_in_words(api, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9
    attempt = send_once(api)
    assert attempt.status == DeliveryAttempt.Status.RETRYING
    assert attempt.error_message == "The mail server could not be reached: Connection refused."
