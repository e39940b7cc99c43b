"""POST /v1/auth/token and /v1/auth/token/refresh: dashboard users' JWTs."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.schema import TokenPairSchema
from accounts.selectors import login_account_key
from accounts.serializers import TokenInputSerializer, TokenRefreshInputSerializer
from accounts.services import TokenPair, auth_token_issue, auth_token_refresh
from api.openapi import error_responses
from api.throttling import AUTH_TOKEN_PER_IP, RateLimit
from api.views import ApiView


def account_key(request) -> str | None:
    """The login's account bucket: the account the email finds however it is spelt (case, a long s),
    or the typed spelling in a canonical form when it finds none; None without an email."""
    data = request.data if isinstance(request.data, dict) else {}
    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        return None
    return login_account_key(email=email)


AUTH_TOKEN_PER_ACCOUNT = RateLimit(
    group="auth-token:account", scope="account", rate_setting="AUTH_TOKEN_RATE_PER_ACCOUNT", key=account_key
)


def token_pair_to_dict(pair: TokenPair) -> dict:
    return {
        "accessToken": pair.access.token,
        "tokenType": "Bearer",
        "expiresIn": pair.access.ttl_seconds,
        "refreshToken": pair.refresh.token,
        "refreshExpiresIn": pair.refresh.ttl_seconds,
        "organization": pair.membership.organization.slug,
        "role": pair.membership.role,
        "livemode": True,
    }


class AuthTokenBaseApi(ApiView):
    # These endpoints are how credentials are obtained: no credentials needed, but a per-IP
    # bucket keeps password guessing slow.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    rate_limits = {"POST": (AUTH_TOKEN_PER_IP,)}


class AuthTokenApi(AuthTokenBaseApi):
    # Also per account, whatever the IP: spraying one account's password from many addresses.
    rate_limits = {"POST": (AUTH_TOKEN_PER_IP, AUTH_TOKEN_PER_ACCOUNT)}

    @extend_schema(
        operation_id="auth_token_create",
        summary="Log in: a dashboard user's access and refresh tokens for one organization",
        request=TokenInputSerializer,
        responses={200: TokenPairSchema, **error_responses(400, 401, 415, 422, 429)},
    )
    def post(self, request):
        serializer = TokenInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        pair = auth_token_issue(email=data["email"], password=data["password"], organization_slug=data["organization"])
        return Response(token_pair_to_dict(pair))


class AuthTokenRefreshApi(AuthTokenBaseApi):
    @extend_schema(
        operation_id="auth_token_refresh",
        summary="Exchange a refresh token for a new pair",
        request=TokenRefreshInputSerializer,
        responses={200: TokenPairSchema, **error_responses(400, 401, 415, 422, 429)},
    )
    def post(self, request):
        serializer = TokenRefreshInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pair = auth_token_refresh(refresh_token=serializer.validated_data["refreshToken"])
        return Response(token_pair_to_dict(pair))
