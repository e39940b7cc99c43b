"""DRF authentication for the API: PrivateKey (a live or sandbox key, as a Bearer token or the
HTTP Basic user name, checked against its stored hash) and JwtAuth (a dashboard user's short-lived
token). Either yields a principal naming the organization, the mode and the actor; anything else
is a 401 authentication_failed."""

import base64
import binascii

from rest_framework import authentication, exceptions

from accounts import tokens
from accounts.principals import Actor, Principal
from accounts.services import api_key_authenticate, membership_for_claims
from ops.context import log_context_add


def _named_in_logs(principal: Principal) -> Principal:
    """The request's log lines name the caller from here on (never its secret)."""
    log_context_add(organization=principal.organization.slug, credential=principal.actor.label)
    return principal


def _raw_key_from_header(header: str) -> str | None:
    scheme, _, credentials = header.partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer" and credentials:
        return credentials
    if scheme.lower() == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, _, password = decoded.partition(":")
        if password:
            return None
        return username
    return None


class PrivateKeyAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer private_…`, or HTTP Basic with the key as user name, no password."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        raw_key = _raw_key_from_header(header)
        if raw_key is None or not raw_key.startswith("private_"):
            # Not ours (a JWT, say): let the next authentication class try.
            return None
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        principal = Principal(
            organization=api_key.organization,
            livemode=api_key.livemode,
            actor=Actor.for_api_key(api_key),
            api_key=api_key,
        )
        return _named_in_logs(principal), api_key

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class JwtAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <jwt>`: a dashboard user's access token, in live mode with their role.

    Runs after PrivateKeyAuthentication, which leaves every bearer token not starting with
    `private_` to this class. The token's signature, expiry and type are checked, then the user and
    the membership as they are now: an inactive user, a removed membership or a changed password
    ends the token at once.
    """

    def authenticate(self, request):
        scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials or credentials.startswith("private_"):
            return None
        try:
            claims = tokens.token_decode(raw=credentials, token_type=tokens.ACCESS)
            membership = membership_for_claims(claims=claims)
        except tokens.InvalidToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        principal = Principal(
            organization=membership.organization,
            livemode=True,
            actor=Actor.for_user(membership.user),
            role=membership.role,
            user=membership.user,
        )
        return _named_in_logs(principal), claims

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
