"""A small client of Postmark's batch endpoint, called as Postmark documents it: `POST /email/batch`
with a JSON array of up to 500 messages, authenticated by the `X-Postmark-Server-Token` header, and
answered by one result per message, in order
(https://postmarkapp.com/developer/api/email-api#send-batch-emails).

anymail sends one message a call; a delivery batch's emails go here in one. It reads anymail's own
settings (ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_POSTMARK_API_URL, ANYMAIL_REQUESTS_TIMEOUT), so
the two never disagree about the account.
"""

import threading

import requests
from anymail.message import AnymailMessage
from django.conf import settings

BATCH_LIMIT = 500
DEFAULT_API_URL = "https://api.postmarkapp.com/"
# anymail's default for its own requests (ANYMAIL_REQUESTS_TIMEOUT).
DEFAULT_TIMEOUT_SECONDS = 30.0

_sessions = threading.local()


def postmark_message(message: AnymailMessage) -> dict:
    """One message as Postmark's Email object: its envelope, bodies, headers, metadata and tag."""
    html = next((str(content) for content, mimetype in message.alternatives if mimetype == "text/html"), None)
    tags = message.tags or []
    body: dict = {
        "From": message.from_email,
        "To": ", ".join(message.to),
        "Subject": message.subject,
        "TextBody": message.body,
        "Headers": [{"Name": name, "Value": value} for name, value in message.extra_headers.items()],
    }
    if html is not None:
        body["HtmlBody"] = html
    if message.metadata:
        body["Metadata"] = message.metadata
    if tags:
        body["Tag"] = tags[0]  # Postmark takes one tag a message
    return body


def postmark_batch_send(messages: list[dict]) -> requests.Response:
    """POST the messages to /email/batch; the response as it came (raises requests' errors)."""
    if not 1 <= len(messages) <= BATCH_LIMIT:
        raise ValueError(f"Postmark takes 1 to {BATCH_LIMIT} messages a batch, not {len(messages)}.")
    options = settings.ANYMAIL
    api_url = str(options.get("POSTMARK_API_URL") or DEFAULT_API_URL)
    session = getattr(_sessions, "session", None)
    if session is None:
        # One session a thread: its TCP connection is kept from one batch to the next.
        session = _sessions.session = requests.Session()
    return session.post(
        api_url.rstrip("/") + "/email/batch",
        json=messages,
        headers={
            "Accept": "application/json",
            "X-Postmark-Server-Token": str(options.get("POSTMARK_SERVER_TOKEN", "")),
        },
        timeout=float(options.get("REQUESTS_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS),
    )
