"""Which shipped language a locale tag gets: the tag itself (pt-BR), else its language (pt), else
English; tags in their canonical form; and dates as each language writes them in a sentence."""

from datetime import datetime

from django.conf import settings
from django.utils import dateformat, formats, translation

FALLBACK = "en"


def shipped_languages() -> list[str]:
    """The shipped languages as tags in canonical form (pt-BR), as the API names them."""
    return [canonical_tag(code) for code, _name in settings.LANGUAGES]


def canonical_tag(tag: str) -> str:
    """A language tag in BCP 47's conventional case: language lower (pt), script title (Latn),
    region upper (BR); "_" read as "-". A tag that is not well-formed is returned trimmed only."""
    parts = tag.strip().replace("_", "-").split("-")
    if not parts or not parts[0].isalpha():
        return tag.strip()
    canonical = [parts[0].lower()]
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            canonical.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            canonical.append(part.title())
        else:
            canonical.append(part.lower())
    return "-".join(canonical)


def language_for(tag: str | None) -> str:
    """The Django language code (lower case: pt-br) of the shipped language for ``tag``."""
    shipped = {code for code, _name in settings.LANGUAGES}
    normalized = (tag or "").strip().replace("_", "-").lower()
    if normalized in shipped:
        return normalized
    primary = normalized.split("-", 1)[0]
    return primary if primary in shipped else FALLBACK


def language_shown(tag: str | None) -> str:
    """The shipped language ``tag`` gets, as the API shows it (pt-BR, de, en)."""
    return canonical_tag(language_for(tag))


# How a date reads in a sentence where Django's locale format says otherwise: Italian without a
# leading zero; Italian and Portuguese with the month in lower case, as they write it.
SENTENCE_DATE_FORMATS = {"it": "j F Y"}
LOWER_CASE_MONTHS = frozenset({"it", "pt", "pt-br"})


def sentence_date(value: datetime) -> str:
    """``value`` as the active language writes a date inside a sentence."""
    language = translation.get_language() or FALLBACK
    text = formats.date_format(value, SENTENCE_DATE_FORMATS.get(language, "DATE_FORMAT"))
    if language in LOWER_CASE_MONTHS:
        month = dateformat.format(value, "F")
        text = text.replace(month, month.lower())
    return text
