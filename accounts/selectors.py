from accounts.models import ApiKey, Membership, Organization, SandboxRecipient


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


def membership_get_for_token(*, user_id: int, organization_slug: str) -> Membership | None:
    return (
        Membership.objects.select_related("user", "organization")
        .filter(user_id=user_id, organization__slug=organization_slug)
        .first()
    )


def sandbox_recipient_allowed(*, organization: Organization | int, recipient: str) -> bool:
    """Whether sandbox sends to this (normalized) recipient reach the real provider."""
    return SandboxRecipient.objects.filter(organization=organization, recipient__iexact=recipient).exists()
