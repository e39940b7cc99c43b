"""Which shipped language a locale tag gets: the tag itself (pt-BR), else its language (pt), else English."""

from django.conf import settings

FALLBACK = "en"


def shipped_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def language_for(tag: str | None) -> str:
    shipped = set(shipped_languages())
    normalized = (tag or "").strip().replace("_", "-").lower()
    if normalized in shipped:
        return normalized
    primary = normalized.split("-", 1)[0]
    return primary if primary in shipped else FALLBACK
