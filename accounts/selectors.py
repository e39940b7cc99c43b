"""Reads about keys, memberships and the sandbox allow-list; authentication and the services call them."""

import hashlib
import unicodedata
from typing import TYPE_CHECKING, TypedDict

from django.contrib.auth import get_user_model
from django.db.models import Exists

from accounts.models import ApiKey, Membership, Organization, RefreshToken, SandboxRecipient

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


def api_key_get_active(*, raw_key: str) -> ApiKey | None:
    if not raw_key.startswith(ApiKey.LIVE_PREFIX) or len(raw_key) > 200:
        return None
    api_key = (
        ApiKey.objects.select_related("organization")
        .filter(key_hash=ApiKey.hash_secret(raw_key), revoked_at__isnull=True)
        .first()
    )
    if api_key is None:
        return None
    # The mode is written into the key itself; refuse a key whose text and row disagree.
    if raw_key.startswith(ApiKey.SANDBOX_PREFIX) == api_key.livemode:
        return None
    return api_key


def membership_get_for_login(*, email: str, organization_slug: str) -> Membership | None:
    """The membership of the user with this email in this organization, or None.

    Email is matched case-insensitively; a user must belong to the organization to be found, so
    two accounts sharing an address in different organizations do not collide.
    """
    matches = list(
        Membership.objects.select_related("user", "organization").filter(
            user__email__iexact=email.strip(), organization__slug=organization_slug
        )[:2]
    )
    return matches[0] if len(matches) == 1 else None


def login_account_key(*, email: str) -> str:
    """Who a login names, for its throttle bucket: the user that the login's own match (email,
    case-insensitively, as the database compares it) finds, or the typed email made canonical
    (NFKC, case-folded: "ſ" is "s") when none or several are found."""
    users = list(get_user_model().objects.filter(email__iexact=email.strip()).values_list("pk", flat=True)[:2])
    if len(users) == 1:
        return f"account:user:{users[0]}"
    canonical = unicodedata.normalize("NFKC", email.strip()).casefold()
    return "account:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


class FamilyRevoked(TypedDict):
    family_revoked: bool


def membership_get_for_token(
    *, user_id: int, organization_slug: str, family: str
) -> "WithAnnotations[Membership, FamilyRevoked] | None":
    """The membership a token names, with ``family_revoked``: whether its login has been revoked
    (one statement: authentication stays one query)."""
    revoked = RefreshToken.objects.filter(family=family, revoked_at__isnull=False)
    return (
        Membership.objects.select_related("user", "organization")
        .filter(user_id=user_id, organization__slug=organization_slug)
        .annotate(family_revoked=Exists(revoked))
        .first()
    )


def sandbox_recipient_allowed(*, organization: Organization | int, recipient: str) -> bool:
    """Whether sandbox sends to this (normalized) recipient reach the real provider."""
    return SandboxRecipient.objects.filter(organization=organization, recipient__iexact=recipient).exists()
