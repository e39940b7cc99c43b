"""Helpers the tests share: the create and resend calls as a client makes them, an invitation sent
a while ago, a free port."""

import http.client
import json
import socket
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

from invitations.models import Invitation
from tests.factories import InvitationFactory

# The tests' "now": a Monday morning.
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
CREATE_URL = "/v1/autodoc/invitations"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create(api, captured=None, recipient: str = "ana@example.com", channel: str = "email", *, headers=None, **body):
    """POST a create (an email to ana@example.com unless ``body`` says otherwise); the response. With
    ``captured`` (django_capture_on_commit_callbacks), its after-commit work (the enqueue) runs."""
    payload = {"channel": channel, "recipient": recipient, **body}
    with captured(execute=True) if captured is not None else nullcontext():
        return api.post(CREATE_URL, payload, format="json", **(headers or {}))


def created(api, captured=None, **body) -> Invitation:
    """``create`` that must answer 201; the invitation it made."""
    response = create(api, captured, **body)
    assert response.status_code == 201, response.json()
    return Invitation.objects.get(token=response.json()["token"])


def resend(api, invitation: Invitation | str, **extra):
    """POST a resend of the invitation (or token); the response."""
    token = invitation if isinstance(invitation, str) else invitation.token
    return api.post(f"{CREATE_URL}/{token}/resend", **extra)


def sent_invitation(organization, **kwargs) -> Invitation:
    """An invitation created an hour before T0 and sent ten minutes before it: past the cooldown."""
    defaults = {"created_at": T0 - timedelta(hours=1), "sent_at": T0 - timedelta(minutes=10)}
    return InvitationFactory(organization=organization, **{**defaults, **kwargs})


def http_call(port: int, method: str, path: str, *, key: str, body: dict | None = None, idempotency_key: str = ""):
    """One request to a server on 127.0.0.1 (gunicorn as the Procfile runs it); (status, JSON body)."""
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {key}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    try:
        client.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = client.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        client.close()
