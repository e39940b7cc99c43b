"""Validators shared by the apps: language tags, email addresses and phone numbers as we store them."""

import re
import unicodedata

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from rest_framework import serializers

LOCALE_RE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
# The local part of an address as a dot-atom (RFC 5322) of printable ASCII: no quoted strings, no
# spaces or control characters, nothing that could break or split a mail header.
EMAIL_LOCAL_PART_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
CONTROL_CHARACTERS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")

EMAIL_MESSAGE = "Enter a valid email address."
PHONE_FORMAT_MESSAGE = "Enter a phone number in E.164 form, like +14155550123."
PHONE_INVALID_MESSAGE = "This phone number is not a possible number."


def normalize_email(value: str) -> str:
    """The address as stored: trimmed, domain lower-cased. Stricter than ``validate_email``, which
    takes quoted local parts ("a b"@example.com) and control characters."""
    value = value.strip()
    local, _, domain = value.rpartition("@")
    if CONTROL_CHARACTERS_RE.search(value) or not EMAIL_LOCAL_PART_RE.fullmatch(local):
        raise ValidationError(EMAIL_MESSAGE)
    validate_email(value)
    return f"{local}@{domain.lower()}"


def normalize_phone(value: str) -> str:
    """The number in E.164 form (+14155550123); SMS_DEFAULT_REGION for numbers without a country code."""
    try:
        number = phonenumbers.parse(value.strip(), settings.SMS_DEFAULT_REGION or None)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(PHONE_FORMAT_MESSAGE) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(PHONE_INVALID_MESSAGE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_address(value: str) -> str:
    """An email address or a phone number, whichever ``value`` is."""
    return normalize_email(value) if "@" in value else normalize_phone(value)


def refuse_hidden_characters(value: str) -> None:
    """Refuse control characters and invisible formatting (bidirectional overrides such as U+202E,
    zero-width characters such as U+200B and U+FEFF): text a person reads back must show what it holds."""
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in value):
        raise serializers.ValidationError(
            "Must not contain control, bidirectional or zero-width characters.", code="hidden_characters"
        )
