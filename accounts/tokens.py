"""Signed JWTs for dashboard users: a short-lived access token and a longer refresh token.

Both are HS256 with a key of their own (JWT_SIGNING_KEY, or one derived from SECRET_KEY) and
name the user (``sub``), the organization (``org``, its slug) and the role at issue time. Only
HS256 is accepted, so ``alg: none`` and algorithm swaps fail. Each token also carries a
fingerprint of the user's password hash: changing the password ends every token issued before.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

ALGORITHM = "HS256"
AUDIENCE = "invitations-api"
ACCESS = "access"
REFRESH = "refresh"
# Longer than any token we issue; anything bigger is refused before it is parsed.
MAX_TOKEN_LENGTH = 4096
WRONG_TYPE_MESSAGES = {
    ACCESS: "Invalid token: a refresh token cannot authenticate a request.",
    REFRESH: "Invalid token: expected a refresh token.",
}
REQUIRED_CLAIMS = ["iss", "aud", "sub", "org", "role", "typ", "iat", "exp", "jti", "pwd", "fam"]


class InvalidToken(Exception):
    """The token is not one we issued, or no longer valid; the message is safe to show."""


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime
    ttl_seconds: int


def _signing_key() -> bytes:
    if settings.JWT_SIGNING_KEY:
        return settings.JWT_SIGNING_KEY.encode()
    # A key of its own, so a token can never be mistaken for another use of SECRET_KEY.
    return salted_hmac("accounts.tokens.signing-key", "jwt", algorithm="sha256").digest()


def password_fingerprint(user) -> str:
    return salted_hmac("accounts.tokens.password", user.password or "", algorithm="sha256").hexdigest()[:32]


def token_encode(
    *, user, organization_slug: str, role: str, token_type: str, now: datetime, family: str = ""
) -> IssuedToken:
    """A signed token naming its ``family``, the login it descends from: revoking the family ends its
    refresh and access tokens alike."""
    ttl = settings.JWT_ACCESS_TTL_SECONDS if token_type == ACCESS else settings.JWT_REFRESH_TTL_SECONDS
    expires_at = now + timedelta(seconds=ttl)
    jti = secrets.token_urlsafe(12)
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": AUDIENCE,
        "sub": str(user.pk),
        "org": organization_slug,
        "role": role,
        "typ": token_type,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti,
        "pwd": password_fingerprint(user),
        "fam": family or secrets.token_urlsafe(16),  # a login of its own when none is named
    }
    token = jwt.encode(claims, _signing_key(), algorithm=ALGORITHM)
    return IssuedToken(token=token, jti=jti, expires_at=expires_at, ttl_seconds=ttl)


def token_decode(*, raw: str, token_type: str) -> dict:
    """The verified claims of a token of ``token_type``; raises InvalidToken otherwise."""
    if len(raw) > MAX_TOKEN_LENGTH:
        raise InvalidToken("Invalid token.")
    try:
        claims = jwt.decode(
            raw,
            _signing_key(),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=settings.JWT_ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("The token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("Invalid token.") from exc
    if claims["typ"] != token_type:
        raise InvalidToken(WRONG_TYPE_MESSAGES[token_type])
    if not isinstance(claims["sub"], str) or not claims["sub"].isdigit() or not isinstance(claims["org"], str):
        raise InvalidToken("Invalid token.")
    if not isinstance(claims["jti"], str) or not isinstance(claims["fam"], str) or not claims["fam"]:
        raise InvalidToken("Invalid token.")
    return claims


def fingerprint_matches(*, user, claims: dict) -> bool:
    return constant_time_compare(claims.get("pwd", ""), password_fingerprint(user))
