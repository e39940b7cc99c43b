"""What every settings module reads the environment with: environs, and the validators of the values
it checks. A bad value stops the process at start-up with the variable's name and what is wrong."""

import re
from decimal import Decimal, InvalidOperation

from environs import Env, validate
from marshmallow import ValidationError

env = Env()
POSITIVE = validate.Range(min=1)
NOT_NEGATIVE = validate.Range(min=0)
# django-ratelimit's rate format: N per period (s, m, h, d), like 30/m or 10/15m.
RATE = validate.Regexp(r"^[1-9][0-9]*/[0-9]*[smhd]$", error="Must look like 30/m or 10/15m.")


def _price(value: list[str]) -> None:
    if len(value) != 2:
        raise ValidationError("Must be amount,currency (like 0.0100,EUR).")
    try:
        amount = Decimal(value[0])
    except InvalidOperation as exc:
        raise ValidationError(f"{value[0]!r} is not a decimal amount.") from exc
    if not amount.is_finite() or amount < 0:
        raise ValidationError("The amount must be zero or more.")
    if not re.fullmatch(r"[A-Z]{3}", value[1]):
        raise ValidationError(f"{value[1]!r} is not a three-letter currency code.")


def _seconds_list(value: list[int]) -> None:
    if any(seconds < 0 for seconds in value) or len(value) > 50:
        raise ValidationError("Must be at most 50 whole numbers of seconds, none negative.")


def _header_and_value(value: list[str]) -> None:
    if value and (len(value) != 2 or not value[0].startswith("HTTP_")):
        raise ValidationError("Must be HEADER,value, like HTTP_X_FORWARDED_PROTO,https.")
