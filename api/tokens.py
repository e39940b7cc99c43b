"""Invitation tokens as the public API writes them: ``adi_`` and up to 64 letters or digits, the
prefix optional wherever a caller names one. The apps below ``invitations`` (webhooks, the request
log) parse the same tokens, so the rule lives here and ``invitations`` exports it."""

import re

TOKEN_PREFIX = "adi_"
# What a token's random part can look like; anything else cannot exist, so it is a 404.
_TOKEN_BODY_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")


def normalize_token(raw: str) -> str | None:
    """``raw`` with its prefix (``adi_xxx`` for ``xxx`` or ``adi_xxx``); None for one that cannot exist."""
    body = raw.removeprefix(TOKEN_PREFIX)
    if not _TOKEN_BODY_RE.match(body):
        return None
    return TOKEN_PREFIX + body


# The other public ids (we_..., evt_..., sup_...): a prefix and random letters and digits.
_PUBLIC_ID_RE = re.compile(r"^[A-Za-z0-9_]{1,80}$")


def is_public_id(raw: str) -> bool:
    """Whether ``raw`` can be a public id at all; one that cannot (a NUL, a slash) is a 404 unlooked-up."""
    return bool(_PUBLIC_ID_RE.match(raw))
