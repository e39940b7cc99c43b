"""Request throttles: django-ratelimit counters on the shared cache (Redis), one bucket per rule,
counted through its public ``get_usage``.

A bucket is a fixed window counted with atomic cache operations, so every web process shares it.
The views apply their buckets after authentication and permissions and before they look anything
up (API.md's order), in order, stopping after the first bucket over its rate. If the cache cannot
be reached the throttle lets the request through and logs it: the limits that protect an invitation
(attempt cap, cooldown) are kept in PostgreSQL.
"""

import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django_ratelimit.core import get_usage
from redis.exceptions import RedisError
from rest_framework.views import APIView

from api.errors import RateLimited

logger = logging.getLogger(__name__)

RATE_RE = re.compile(r"[1-9][0-9]*/[0-9]*[smhd]")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# A client with an IPv6 address usually holds the whole /64; count it as one client.
IPV6_PREFIX = 64
# What client_ip answers for a forwarded hop that is not an address.
UNPARSABLE_PREFIX = "unparsable:"


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for proxy in proxies:
        try:
            networks.append(ipaddress.ip_network(proxy, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"TRUSTED_PROXIES: {proxy!r} is not an IP address or network") from exc
    return tuple(networks)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _is_trusted(address, networks) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_ip(request) -> str:
    """The caller's address: REMOTE_ADDR, unless that is a trusted proxy (then possibly a hop that is
    no address, as ``unparsable:<hop>``).

    Behind trusted proxies the forwarding header is read right to left and the first hop that is
    not a trusted proxy is the client: what a client writes into the header itself sits to the
    left of that and is never reached, so a forged X-Forwarded-For changes nothing.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    remote_ip = _parse_ip(remote)
    if remote_ip is None:
        return remote or "unknown"
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    client = remote_ip
    if networks and _is_trusted(remote_ip, networks):
        hops = [hop for hop in request.META.get(settings.TRUSTED_PROXY_HEADER, "").split(",") if hop.strip()]
        for hop in reversed(hops):
            hop_ip = _parse_ip(hop)
            if hop_ip is None:
                # No address, where a trusted proxy names its client: the client is this hop as
                # written. Never the proxy's own address, which would put everyone behind it in one
                # bucket; and nothing left of it, which the client itself may have written.
                return UNPARSABLE_PREFIX + "".join(c for c in hop.strip() if c.isprintable() and c.isascii())[:48]
            client = hop_ip
            if not _is_trusted(hop_ip, networks):
                break
    if client.version == 6:
        return str(ipaddress.ip_network(f"{client}/{IPV6_PREFIX}", strict=False).network_address)
    return str(client)


def organization_key(request) -> str:
    # Per organization and mode: a leaked sandbox key cannot use up the live capacity.
    principal = request.user
    return f"org:{principal.organization.pk}:{'live' if principal.livemode else 'sandbox'}"


def ip_key(request) -> str:
    return f"ip:{client_ip(request)}"


@dataclass(frozen=True)
class RateLimit:
    """One bucket: which requests share it (``group`` + key), its rate setting, its error scope."""

    group: str
    scope: str  # "ip" | "organization" | "account", as the 429 body names it
    rate_setting: str
    key: Callable

    def rate(self) -> str:
        rate = getattr(settings, self.rate_setting)
        if not isinstance(rate, str) or not RATE_RE.fullmatch(rate):
            raise ImproperlyConfigured(f"{self.rate_setting} must look like 30/m, got {rate!r}")
        return rate

    def policy(self) -> str:
        """This bucket as RateLimit-Policy names it: ``30;w=60;name="ip"``."""
        count, window = _rate_parts(self.rate())
        return f'{count};w={window};name="{self.scope}"'

    def count(self, request) -> dict | None:
        """Count this request in the bucket; its usage (django-ratelimit's), or None when it was not counted."""
        return count_in_order(request, (self,))[0]

    def refuse_if_over(self, usage: dict | None) -> None:
        if usage is not None and usage["should_limit"]:
            # The window still counts during its last second (time_left == 0): the next one starts
            # a second after that.
            raise RateLimited(scope=self.scope, retry_after=_seconds_left(usage))

    def hit(self, request) -> dict | None:
        """Count this request; raise RateLimited when the bucket is over its rate."""
        usage = self.count(request)
        self.refuse_if_over(usage)
        return usage


def count_in_order(request, limits: Sequence[RateLimit]) -> list[dict | None]:
    """Count this request in ``limits`` in order, stopping after the first bucket over its rate (its
    refusal is the answer); each bucket's usage, None for a bucket not counted (no key for this
    request, a bucket after a full one, or the cache unreachable: fail open, logged)."""
    usages: list[dict | None] = [None] * len(limits)
    if not settings.RATELIMIT_ENABLE:
        return usages
    for index, limit in enumerate(limits):
        value = limit.key(request)
        if value is None:
            continue
        try:
            usage = get_usage(
                request, group=limit.group, key=lambda _group, _request: value, rate=limit.rate(), increment=True
            )
        except (RedisError, OSError) as exc:
            logger.warning("Throttle %s not applied: the cache is unreachable (%s)", limit.group, exc)
            continue
        if usage is None:
            # The counter could not be read or written (fail open).
            logger.warning("Throttle %s not applied: the counter could not be read", limit.group)
            continue
        usages[index] = usage
        if usage["should_limit"]:
            break
    return usages


def _rate_parts(rate: str) -> tuple[int, int]:
    count, period = rate.split("/")
    return int(count), int(period[:-1] or 1) * UNIT_SECONDS[period[-1]]


def _seconds_left(usage: dict) -> int:
    return max(1, usage["time_left"] + 1)


RESEND_PER_IP = RateLimit(group="resend:ip", scope="ip", rate_setting="RESEND_RATE_PER_IP", key=ip_key)
RESEND_PER_ORGANIZATION = RateLimit(
    group="resend:organization", scope="organization", rate_setting="RESEND_RATE_PER_ORG", key=organization_key
)
CREATE_PER_ORGANIZATION = RateLimit(
    group="create:organization", scope="organization", rate_setting="CREATE_RATE_PER_ORG", key=organization_key
)
BATCH_CREATE_PER_ORGANIZATION = RateLimit(
    group="batch-create:organization",
    scope="organization",
    rate_setting="BATCH_CREATE_RATE_PER_ORG",
    key=organization_key,
)
AUTH_TOKEN_PER_IP = RateLimit(group="auth-token:ip", scope="ip", rate_setting="AUTH_TOKEN_RATE_PER_IP", key=ip_key)


def rate_limit_headers(counted: list[tuple[RateLimit, dict]], limits: tuple[RateLimit, ...]) -> dict[str, str]:
    """RateLimit-* for the bucket closest to its limit among those this request was counted in, and
    RateLimit-Policy naming every bucket of the endpoint."""
    if not limits:
        return {}
    headers = {"RateLimit-Policy": ", ".join(limit.policy() for limit in limits)}
    if counted:
        _limit, usage = min(counted, key=lambda item: item[1]["limit"] - item[1]["count"])
        headers["RateLimit-Limit"] = str(usage["limit"])
        headers["RateLimit-Remaining"] = str(max(0, usage["limit"] - usage["count"]))
        headers["RateLimit-Reset"] = str(_seconds_left(usage))
    return headers


class RateLimitedApiMixin(APIView):
    """Apply ``rate_limits[METHOD]`` in order, where DRF throttles: after authentication and
    permissions, before the handler looks anything up; and tell the caller, on every answer, what
    is left of them (from the same counts: no further cache round trip)."""

    rate_limits: dict[str, tuple[RateLimit, ...]] = {}

    def check_throttles(self, request):
        super().check_throttles(request)
        limits = self.rate_limits.get(request.method, ())
        usages = count_in_order(request, limits)
        self.rate_limit_counted = [
            (limit, usage) for limit, usage in zip(limits, usages, strict=True) if usage is not None
        ]
        for limit, usage in zip(limits, usages, strict=True):
            limit.refuse_if_over(usage)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        counted = getattr(self, "rate_limit_counted", [])
        for name, value in rate_limit_headers(counted, self.rate_limits.get(request.method, ())).items():
            response[name] = value
        return response


PROVIDER_WEBHOOK_PER_IP = RateLimit(
    group="provider-webhook:ip", scope="ip", rate_setting="PROVIDER_WEBHOOK_RATE_PER_IP", key=ip_key
)

WEBHOOK_ACTION_PER_ORGANIZATION = RateLimit(
    group="webhook-action:organization",
    scope="organization",
    rate_setting="WEBHOOK_ACTION_RATE_PER_ORG",
    key=organization_key,
)

WEBHOOK_ENDPOINT_WRITE_PER_ORGANIZATION = RateLimit(
    group="webhook-endpoint-write:organization",
    scope="organization",
    rate_setting="WEBHOOK_ENDPOINT_WRITE_RATE_PER_ORG",
    key=organization_key,
)
SUPPRESSION_WRITE_PER_ORGANIZATION = RateLimit(
    group="suppression-write:organization",
    scope="organization",
    rate_setting="SUPPRESSION_WRITE_RATE_PER_ORG",
    key=organization_key,
)
