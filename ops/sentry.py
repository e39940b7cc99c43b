"""Error reporting to Sentry, turned on by SENTRY_DSN (settings imports this module only then).

No personal data: send_default_pii off, request bodies never sent, recipient addresses masked and
secrets cut from every message and exception value as in the logs. Each event is tagged with the
id of the request (or of the request that queued the job) it happened in.
"""

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.rq import RqIntegration
from sentry_sdk.types import Event, Hint

from ops.context import request_id
from ops.logs import mask


def _masked(value):
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def before_send(event: Event, hint: Hint) -> Event | None:
    current = request_id()
    if current:
        event.setdefault("tags", {})["request_id"] = current
    for key in ("message", "logentry", "exception", "breadcrumbs", "extra"):
        if key in event:
            event[key] = _masked(event[key])
    return event


def sentry_init(*, dsn: str, environment: str, release: str = "") -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), RqIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        before_send=before_send,
        traces_sample_rate=0,
    )
