"""A small client of two Postmark endpoints, called as Postmark documents them, authenticated by the
`X-Postmark-Server-Token` header:

- `POST /email/batch` with a JSON array of up to 500 messages, answered by one result per message, in
  order (https://postmarkapp.com/developer/api/email-api#send-batch-emails);
- `GET /messages/outbound` with `metadata_<key>=<value>`, the outbound message search: whether
  Postmark has a message whose metadata holds that value
  (https://postmarkapp.com/developer/api/messages-api#outbound-message-search).

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
    return _call("POST", "email/batch", json=messages)


def postmark_outbound_message_id(*, metadata_key: str, value: str) -> str | None:
    """The MessageID of a message Postmark took with ``metadata_key`` = ``value`` in its metadata, or
    None when it has none. Raises requests' errors, and HTTPError for an answer other than 200."""
    response = _call("GET", "messages/outbound", params={"count": 1, "offset": 0, f"metadata_{metadata_key}": value})
    response.raise_for_status()
    found = response.json().get("Messages") or []
    return str(found[0]["MessageID"]) if found else None


def _call(method: str, path: str, **options) -> requests.Response:
    anymail = settings.ANYMAIL
    api_url = str(anymail.get("POSTMARK_API_URL") or DEFAULT_API_URL)
    session = getattr(_sessions, "session", None)
    if session is None:
        # One session a thread: its TCP connection is kept from one call to the next.
        session = _sessions.session = requests.Session()
    return session.request(
        method,
        api_url.rstrip("/") + "/" + path,
        headers={
            "Accept": "application/json",
            "X-Postmark-Server-Token": str(anymail.get("POSTMARK_SERVER_TOKEN", "")),
        },
        timeout=float(anymail.get("REQUESTS_TIMEOUT") or DEFAULT_TIMEOUT_SECONDS),
        **options,
    )
