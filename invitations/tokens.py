"""Invitation tokens: ``adi_`` and its random part, the prefix optional wherever a caller names one.

Parse a token only through ``normalize_token``. The rule itself is ``api.tokens``, so that the apps
below ``invitations`` (webhooks, the request log) parse tokens the same way without importing it.
"""

from api.tokens import TOKEN_PREFIX, normalize_token

__all__ = ["TOKEN_PREFIX", "normalize_token"]
