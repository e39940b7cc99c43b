"""Provider failover: which providers a send may go to, in order, and which of them rest.

EMAIL_BACKENDS and SMS_BACKENDS list the providers in order (empty: EMAIL_BACKEND or SMS_BACKEND
alone). A provider that fails PROVIDER_FAILURE_THRESHOLD sends in a row before taking them rests for
PROVIDER_REST_SECONDS: sends skip it, then one send probes it (the first to ask after the rest), and a
success ends the rest while a failure starts another. The counts live in the shared cache (Redis),
so every worker sees the same state.
"""

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

_PREFIX = "provider"


@dataclass(frozen=True)
class Provider:
    channel: str
    path: str  # the backend's dotted path

    @property
    def name(self) -> str:
        """As attempts name it: anymail's ESP name in lowercase, twilio, or the backend's short name."""
        parts = self.path.lower().split(".")
        if "anymail" in parts:
            return parts[-2]
        if "twilio" in self.path.lower():
            return "twilio"
        return parts[-1].removesuffix("emailbackend").removesuffix("smsbackend") or parts[-2]

    def _key(self, what: str) -> str:
        return f"{_PREFIX}:{self.channel}:{self.name}:{what}"


def providers(channel: str) -> list[Provider]:
    """The channel's providers, in the configured order."""
    if channel == "sms":
        paths = settings.SMS_BACKENDS or [settings.SMS_BACKEND]
    else:
        paths = settings.EMAIL_BACKENDS or [settings.EMAIL_BACKEND]
    return [Provider(channel=channel, path=path) for path in paths]


def resting_until(provider: Provider) -> float | None:
    """When the provider's rest ends (epoch seconds), or None: it is not resting."""
    until = cache.get(provider._key("rest"))
    return float(until) if until is not None else None


def usable(channel: str) -> list[Provider]:
    """The providers a send may try now, in order: those not resting, and a resting one whose rest is
    over for the one send that probes it."""
    now = time.time()
    ready = []
    for provider in providers(channel):
        until = resting_until(provider)
        if until is None:
            ready.append(provider)
        elif now >= until and cache.add(provider._key("probe"), 1, timeout=settings.PROVIDER_REST_SECONDS):
            ready.append(provider)
    return ready


def record_failure(provider: Provider) -> None:
    """A send the provider failed before taking it. The threshold's failure in a row, or a failed
    probe, starts a rest."""
    key = provider._key("failures")
    cache.add(key, 0, timeout=24 * 3600)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired in between
        failures = 1
    probing = resting_until(provider) is not None
    if probing or failures >= settings.PROVIDER_FAILURE_THRESHOLD:
        cache.set(provider._key("rest"), time.time() + settings.PROVIDER_REST_SECONDS, timeout=None)
        cache.delete_many([key, provider._key("probe")])


def record_success(provider: Provider) -> None:
    """A send the provider took (or refused for its recipient): it works; any rest ends."""
    cache.delete_many([provider._key("failures"), provider._key("rest"), provider._key("probe")])
