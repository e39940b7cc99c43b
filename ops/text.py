"""Text from outside (a request's path, a header, a provider's words) made storable: PostgreSQL's
text refuses the NUL character, and UTF-8 has no lone surrogates. Each becomes U+FFFD, so what was
there stays visible and nothing else changes."""

REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD."""
    if "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = "".join(REPLACEMENT if "\ud800" <= char <= "\udfff" else char for char in text)
    return text
