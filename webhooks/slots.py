"""How many webhook tries may be in flight at once: per endpoint (WEBHOOK_ENDPOINT_CONCURRENCY)
and per organization and mode (WEBHOOK_ORG_CONCURRENCY), across every dispatcher, as leases in
Redis that a dead dispatcher's tries outlive only until they end. A sandbox key's endpoints never
use up the live endpoints' share, nor the reverse."""

import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from redis.exceptions import RedisError

from webhooks.models import WebhookDelivery


def claim_stale_after() -> timedelta:
    # A try ends by its deadline (WEBHOOK_TIMEOUT_SECONDS from lookup to last byte); the claim and the
    # slots it holds outlive it by a margin for recording the answer, so only a dead dispatcher's
    # claim ever goes stale, and a live try is never taken twice.
    return timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS + CLAIM_MARGIN_SECONDS)


CLAIM_MARGIN_SECONDS = 30


def organization_concurrency() -> int:
    """Tries in flight at once for one organization in one mode, across every dispatcher."""
    return settings.WEBHOOK_ORG_CONCURRENCY or max(1, settings.WEBHOOK_DISPATCH_THREADS // 4)


# KEYS: the endpoint's and the organization's sets of tries in flight (member: the try, score: when
# its lease ends). ARGV: the member, the lease in ms, the endpoint's limit, the organization's.
# Leases past their end (a dispatcher that died) are dropped first, so the count is exact: the tries
# alive now. Returns 0 (taken), 1 (the endpoint is full) or 2 (the organization is full).
_TAKE_SLOT_LUA = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now_ms + lease, ARGV[1])
redis.call('ZADD', KEYS[2], now_ms + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
redis.call('PEXPIRE', KEYS[2], lease)
return 0
"""
TAKEN, ENDPOINT_FULL, ORGANIZATION_FULL = 0, 1, 2


# An organization in one mode: a sandbox key's tries never use up the live ones' share.
Tenant = tuple[int, bool]


def tenant_of(delivery: WebhookDelivery) -> Tenant:
    return delivery.endpoint.organization_id, delivery.endpoint.livemode


def _slot_keys(endpoint_id: int, tenant: Tenant) -> list[str]:
    organization_id, livemode = tenant
    mode = "live" if livemode else "sandbox"
    return [f"webhooks:inflight:endpoint:{endpoint_id}", f"webhooks:inflight:org:{organization_id}:{mode}"]


class Slots:
    """Tries in flight per endpoint (WEBHOOK_ENDPOINT_CONCURRENCY) and per organization and mode
    (WEBHOOK_ORG_CONCURRENCY), as leases in Redis shared by every dispatcher (counted here alone
    while Redis is unreachable, or without it); and the endpoints and organizations found full a
    moment ago, left out of the next claims for a second."""

    def __init__(self, redis):
        self.redis = redis
        self.local_endpoints: dict[int, int] = {}
        self.local_organizations: dict[Tenant, int] = {}
        self.full_endpoints: dict[int, float] = {}
        self.full_organizations: dict[Tenant, float] = {}
        self.held: dict[int, str] = {}  # delivery id -> its lease's member, when held in Redis
        self._script = self.redis.register_script(_TAKE_SLOT_LUA) if self.redis is not None else None

    @staticmethod
    def _recent(found: dict) -> set:
        now = time.monotonic()
        return {key for key, since in found.items() if now - since < 1.0}

    def endpoints_full(self) -> set[int]:
        return self._recent(self.full_endpoints)

    def organizations_full(self) -> set[Tenant]:
        return self._recent(self.full_organizations)

    def take(self, delivery: WebhookDelivery) -> bool:
        endpoint_id, tenant = delivery.endpoint_id, tenant_of(delivery)
        outcome = self._take(delivery.pk, endpoint_id, tenant)
        if outcome == ENDPOINT_FULL:
            self.full_endpoints[endpoint_id] = time.monotonic()
        elif outcome == ORGANIZATION_FULL:
            self.full_organizations[tenant] = time.monotonic()
        return outcome == TAKEN

    def _take(self, delivery_id: int, endpoint_id: int, tenant: Tenant) -> int:
        endpoint_limit, organization_limit = settings.WEBHOOK_ENDPOINT_CONCURRENCY, organization_concurrency()
        if self._script is not None:
            member = f"{delivery_id}:{uuid.uuid4().hex}"
            lease_ms = int(claim_stale_after().total_seconds() * 1000)
            try:
                outcome = int(
                    self._script(
                        keys=_slot_keys(endpoint_id, tenant),
                        args=[member, lease_ms, endpoint_limit, organization_limit],
                    )
                )
            except RedisError:
                pass  # count here alone until Redis is back
            else:
                if outcome == TAKEN:
                    self.held[delivery_id] = member
                return outcome
        if self.local_endpoints.get(endpoint_id, 0) >= endpoint_limit:
            return ENDPOINT_FULL
        if self.local_organizations.get(tenant, 0) >= organization_limit:
            return ORGANIZATION_FULL
        self.local_endpoints[endpoint_id] = self.local_endpoints.get(endpoint_id, 0) + 1
        self.local_organizations[tenant] = self.local_organizations.get(tenant, 0) + 1
        return TAKEN

    def give_back(self, delivery: WebhookDelivery) -> None:
        endpoint_id, tenant = delivery.endpoint_id, tenant_of(delivery)
        self.full_endpoints.pop(endpoint_id, None)
        self.full_organizations.pop(tenant, None)
        member = self.held.pop(delivery.pk, None)
        if member is None:
            self.local_endpoints[endpoint_id] = max(0, self.local_endpoints.get(endpoint_id, 0) - 1)
            self.local_organizations[tenant] = max(0, self.local_organizations.get(tenant, 0) - 1)
            return
        try:
            with self.redis.pipeline() as pipe:
                for key in _slot_keys(endpoint_id, tenant):
                    pipe.zrem(key, member)
                pipe.execute()
        except RedisError:
            pass  # the lease ends by itself


def any_tenant(tenants: set[Tenant]) -> Q:
    """Deliveries to endpoints of any of these organizations in these modes (none when empty)."""
    matches = Q(pk__in=[])
    for organization_id, livemode in tenants:
        matches |= Q(endpoint__organization_id=organization_id, endpoint__livemode=livemode)
    return matches
