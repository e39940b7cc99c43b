"""Refusals of the accounts services, each with its contract type and status."""

from api.errors import AuthenticationFailed


class InvalidCredentials(AuthenticationFailed):
    # One message for every reason, so a caller cannot learn which emails or organizations exist.
    default_message = "Invalid email, password or organization."


class InvalidRefreshToken(AuthenticationFailed):
    default_message = "Invalid refresh token."
