"""Request bodies: JSON that any client might send, however malformed, is a 400, never a 500."""

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Deeper than any body this API takes, and far below where the parser would exhaust the stack.
MAX_JSON_DEPTH = 32


class MalformedJson(ValueError):
    pass


def _depth_ok(value: Any) -> bool:
    # Iterative: a recursive walk would itself overflow the stack on the values it must refuse.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return False
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return True


def _is_bad_text(text: str) -> bool:
    # NUL cannot be stored by PostgreSQL; a lone surrogate (\ud800) cannot be encoded at all.
    return "\x00" in text or not text.isascii() and not _encodes(text)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _has_bad_text(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _is_bad_text(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads_strict(raw: bytes | str) -> Any:
    """``json.loads`` that refuses, with MalformedJson, what no client of ours sends: text that is not
    UTF-8, nesting past MAX_JSON_DEPTH (or deep enough to exhaust the parser), NUL characters (which
    PostgreSQL cannot store) and lone surrogates, and NaN or Infinity."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise MalformedJson("The body is not UTF-8.") from exc
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise MalformedJson("The JSON is nested too deeply.") from exc
    except ValueError as exc:
        raise MalformedJson(f"The body is not valid JSON: {exc}") from exc
    if not _depth_ok(value):
        raise MalformedJson(f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep.")
    if _has_bad_text(value):
        raise MalformedJson("The JSON contains a NUL character or a lone surrogate.")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


class StrictJSONParser(JSONParser):
    """DRF's JSON parser with ``loads_strict``'s refusals, each a 400 invalid_request."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        try:
            return loads_strict(raw)
        except MalformedJson as exc:
            raise ParseError(str(exc)) from exc
