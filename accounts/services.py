import secrets

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, Organization


def organization_create(*, slug: str, name: str = "") -> Organization:
    return Organization.objects.create(slug=slug, name=name or slug)


def api_key_create(*, organization: Organization, livemode: bool, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the raw secret is returned once and never stored."""
    prefix = ApiKey.LIVE_PREFIX if livemode else ApiKey.SANDBOX_PREFIX
    raw_key = prefix + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        livemode=livemode,
        prefix=raw_key[: len(prefix) + ApiKey.VISIBLE_CHARS],
        key_hash=ApiKey.hash_secret(raw_key),
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    with transaction.atomic():
        ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key
