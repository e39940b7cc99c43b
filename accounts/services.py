"""Every change to tenants, keys, memberships and tokens, audited with its actor: organizations and
keys made (a key's secret returned once), revoked and authenticated; memberships kept; JWT access
and refresh tokens issued, rotated and revoked by family."""

import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts import tokens
from accounts.exceptions import InvalidCredentials, InvalidRefreshToken
from accounts.models import AccountEvent, ApiKey, Membership, Organization, RefreshToken
from accounts.principals import Actor
from accounts.selectors import api_key_get_active, membership_get_for_login, membership_get_for_token
from api.errors import ValidationFailed

# Record a key's use at most once a minute.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def account_event_record(
    *, organization: Organization, action: str, target: str, actor: Actor, detail: str = ""
) -> None:
    AccountEvent.objects.create(
        organization=organization,
        action=action,
        target=target[:254],
        detail=detail[:200],
        actor_kind=actor.kind,
        actor_label=actor.label[:200],
        actor_user_id=actor.user_id,
    )


def organization_create(*, slug: str, name: str = "", actor: Actor) -> Organization:
    with transaction.atomic():
        organization = Organization.objects.create(slug=slug, name=name or slug)
        account_event_record(
            organization=organization, action=AccountEvent.Action.ORGANIZATION_CREATED, target=slug, actor=actor
        )
    return organization


def api_key_create(*, organization: Organization, livemode: bool, actor: Actor, name: str = "") -> tuple[ApiKey, str]:
    """Create a key; the raw secret is returned once and never stored."""
    prefix = ApiKey.LIVE_PREFIX if livemode else ApiKey.SANDBOX_PREFIX
    raw_key = prefix + secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            organization=organization,
            name=name,
            livemode=livemode,
            prefix=raw_key[: len(prefix) + ApiKey.VISIBLE_CHARS],
            key_hash=ApiKey.hash_secret(raw_key),
        )
        account_event_record(
            organization=organization,
            action=AccountEvent.Action.API_KEY_CREATED,
            target=api_key.prefix,
            detail="live" if livemode else "sandbox",
            actor=actor,
        )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    with transaction.atomic():
        revoked = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            account_event_record(
                organization=api_key.organization,
                action=AccountEvent.Action.API_KEY_REVOKED,
                target=api_key.prefix,
                actor=actor,
            )
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key with this secret, or None; its use is recorded at most once a minute, so
    authentication is not a write per request."""
    api_key = api_key_get_active(raw_key=raw_key)
    if api_key is None:
        return None
    now = timezone.now()
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def membership_upsert(
    *,
    organization: Organization,
    role: str,
    actor: Actor,
    email: str | None = None,
    user: AbstractBaseUser | None = None,
    password: str | None = None,
    via: str = "",
) -> Membership:
    """Give a user ``role`` in ``organization``, audited: ``user`` as given (the admin picks one), or
    the user with this ``email``, created if needed.

    A password, when given, is validated and set; a new user without one cannot log in until a
    password is set. ``via`` names the door in the audit row ("admin").
    """
    if role not in Membership.Role.values:
        raise ValidationFailed(fields={"role": [f"Must be one of: {', '.join(Membership.Role.values)}."]})
    with transaction.atomic():
        if user is None:
            user = _user_for_email(email or "", password=password)
        membership, _ = Membership.objects.update_or_create(
            user=user, organization=organization, defaults={"role": role}
        )
        detail = f"role {role}" + ("; password set" if password is not None else "") + (f" ({via})" if via else "")
        account_event_record(
            organization=organization,
            action=AccountEvent.Action.MEMBERSHIP_SET,
            target=getattr(user, "email", "") or user.get_username(),
            detail=detail,
            actor=actor,
        )
    return membership


def _user_for_email(email: str, *, password: str | None) -> AbstractBaseUser:
    """The one user with this email, locked, or a new one saved now; with ``password`` set."""
    email = email.strip()
    try:
        validate_email(email)
    except DjangoValidationError as exc:
        raise ValidationFailed(fields={"email": ["Enter a valid email address."]}) from exc
    User = get_user_model()
    users = list(User.objects.select_for_update().filter(email__iexact=email)[:2])
    if len(users) > 1:
        raise ValidationFailed(f"More than one user has the email {email}.", fields={"email": ["Ambiguous."]})
    user = users[0] if users else User(username=email.lower(), email=email)
    if not users and User.objects.filter(username__iexact=user.get_username()).exists():
        raise ValidationFailed(
            f"A user named {user.get_username()} exists with another email.", fields={"email": ["Ambiguous."]}
        )
    if password is not None:
        try:
            validate_password(password, user)
        except DjangoValidationError as exc:
            raise ValidationFailed("The password is too weak.", fields={"password": exc.messages}) from exc
        user.set_password(password)
    elif user.pk is None:
        user.set_unusable_password()
    user.save()
    return user


def membership_remove(*, membership: Membership, actor: Actor, via: str = "") -> None:
    """Take the user out of the organization, audited."""
    with transaction.atomic():
        membership.delete()
        account_event_record(
            organization=membership.organization,
            action=AccountEvent.Action.MEMBERSHIP_REMOVED,
            target=membership.user.email or membership.user.get_username(),
            detail=f"was {membership.role}" + (f" ({via})" if via else ""),
            actor=actor,
        )


@dataclass(frozen=True)
class TokenPair:
    access: tokens.IssuedToken
    refresh: tokens.IssuedToken
    membership: Membership


def _token_pair(membership: Membership, *, family: str | None = None) -> TokenPair:
    """An access and a refresh token; the refresh token joins ``family``, or starts a new one."""
    now = timezone.now()
    family = family or secrets.token_urlsafe(16)
    issue = partial(
        tokens.token_encode,
        user=membership.user,
        organization_slug=membership.organization.slug,
        role=membership.role,
        family=family,
        now=now,
    )
    refresh = issue(token_type=tokens.REFRESH)
    RefreshToken.objects.create(
        jti=refresh.jti,
        family=family,
        user=membership.user,
        organization=membership.organization,
        created_at=now,
        expires_at=refresh.expires_at,
    )
    return TokenPair(
        access=issue(token_type=tokens.ACCESS),
        refresh=refresh,
        membership=membership,
    )


def auth_token_issue(*, email: str, password: str, organization_slug: str) -> TokenPair:
    """Log a dashboard user in to one organization: an access token and a refresh token."""
    membership = membership_get_for_login(email=email, organization_slug=organization_slug)
    if membership is None:
        # Spend the time a real password check takes, so a missing account is not visible in timing.
        make_password(password)
        raise InvalidCredentials()
    user = membership.user
    if not user.check_password(password) or not user.is_active:
        raise InvalidCredentials()
    update_last_login(type(user), user)
    return _token_pair(membership)


def membership_for_claims(*, claims: dict) -> Membership:
    """The membership a verified token speaks for, as it is now; raises tokens.InvalidToken.

    The role is read from the database, not the token, so a demotion applies at once.
    """
    membership = membership_get_for_token(
        user_id=int(claims["sub"]), organization_slug=claims["org"], family=claims["fam"]
    )
    if membership is None:
        raise tokens.InvalidToken("The user is not a member of this organization.")
    if not membership.user.is_active:
        raise tokens.InvalidToken("The user is inactive.")
    if not tokens.fingerprint_matches(user=membership.user, claims=claims):
        raise tokens.InvalidToken("The password changed after this token was issued; log in again.")
    if membership.family_revoked:
        # A revoked login ends at once: its access tokens too, not only its refresh tokens.
        raise tokens.InvalidToken("This login has been revoked; log in again.")
    return membership


def auth_token_refresh(*, refresh_token: str) -> TokenPair:
    """A new token pair for a valid refresh token whose user still belongs to its organization.

    Refresh tokens rotate: each can be used once, and the pair it gives carries the next one of its
    family. Presenting a used one again revokes its family, the newest token included: one of the
    two holders is not the user, and which one cannot be told.
    """
    try:
        claims = tokens.token_decode(raw=refresh_token, token_type=tokens.REFRESH)
        membership = membership_for_claims(claims=claims)
    except tokens.InvalidToken as exc:
        raise InvalidRefreshToken(str(exc)) from exc
    now = timezone.now()
    with transaction.atomic():
        # Lock the token's row: of two requests racing with one token, the second must see it used.
        issued = RefreshToken.objects.select_for_update().filter(jti=claims["jti"], family=claims["fam"]).first()
        if issued is None or issued.revoked_at is not None:
            raise InvalidRefreshToken("This refresh token has been revoked; log in again.")
        reused = issued.used_at is not None
        if reused:
            RefreshToken.objects.filter(family=issued.family, revoked_at__isnull=True).update(revoked_at=now)
        else:
            issued.used_at = now
            issued.save(update_fields=["used_at"])
            pair = _token_pair(membership, family=issued.family)
    if reused:
        # Raised after the commit, so the revocation stays.
        raise InvalidRefreshToken("This refresh token was already used; every token of its login is revoked.")
    return pair


def refresh_tokens_delete_expired(*, now=None) -> int:
    """Forget refresh tokens past their expiry: they can no longer be presented anyway."""
    deleted, _ = RefreshToken.objects.filter(expires_at__lt=now or timezone.now()).delete()
    return deleted
