"""A client written against the package openapi-python-client generates from /v1/openapi.json (as
`invitations_client`), using the fields and the endpoint the contract added, typed: mypy checks this
file against the generated package, then it runs against the web process.

    python uses_the_new_fields.py BASE_URL KEY
"""

import datetime
import sys

from invitations_client import AuthenticatedClient
from invitations_client.api.autodoc import (
    invitations_batch_create,
    invitations_create,
    invitations_retrieve,
    invitations_update,
)
from invitations_client.models import (
    BatchCreateInput,
    BatchCreateResult,
    ChannelEnum,
    ExpiryWarningInput,
    FallbackInput,
    Invitation,
    InvitationCreateInput,
    PatchedInvitationUpdateInput,
)


def main(base_url: str, key: str) -> None:
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)
    send_at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
    body = InvitationCreateInput(
        channel=ChannelEnum.EMAIL,
        recipient="typed@example.com",
        send_at=send_at,
        expiry_warning=ExpiryWarningInput(before_hours=24.0),
        fallback=FallbackInput(channel="sms", recipient="+4915112345678"),
    )
    created = invitations_create.sync(client=client, body=body)
    assert isinstance(created, Invitation), created
    scheduled_for: datetime.datetime | None = created.send_at
    assert scheduled_for is not None and abs((scheduled_for - send_at).total_seconds()) < 1
    assert created.fallback is not None and created.fallback.recipient == "+4915112345678"
    assert created.expiry_warning is not None and created.expiry_warning.before_hours == 24.0

    fetched = invitations_retrieve.sync(token=created.token, client=client)
    assert isinstance(fetched, Invitation)
    allowed: bool = fetched.resend.allowed
    sends_left: int = fetched.resend.sends_left
    available_at: datetime.datetime | None = fetched.resend.available_at
    assert (allowed, sends_left, available_at) == (False, 9, None)
    assert fetched.resend.refusal is not None and fetched.resend.refusal.value == "invalid_status"

    later = created.expires_at + datetime.timedelta(days=10)
    moved = invitations_update.sync(
        token=created.token, client=client, body=PatchedInvitationUpdateInput(expires_at=later)
    )
    assert isinstance(moved, Invitation) and moved.expires_at == later

    batch = invitations_batch_create.sync(
        client=client,
        body=BatchCreateInput(
            invitations=[
                InvitationCreateInput(channel=ChannelEnum.EMAIL, recipient="batch1@example.com"),
                InvitationCreateInput(channel=ChannelEnum.SMS, recipient="not a number"),
            ]
        ),
    )
    assert isinstance(batch, BatchCreateResult)
    created_count: int = batch.created
    assert (created_count, batch.failed) == (1, 1)
    assert [item.status for item in batch.data] == [201, 422]
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
