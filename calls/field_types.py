"""Validation of extracted values against an agent's declared field types."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?\d{7,15}$")
INTEGER_RE = re.compile(r"^[+-]?\d+$")
TRUE_WORDS, FALSE_WORDS = {"true", "yes", "y"}, {"false", "no", "n"}


class InvalidValue(ValueError):
    """A value does not fit its declared type."""


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def as_string(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if is_number(value):
        return str(value)
    raise InvalidValue("is not text")


def as_number(value: Any) -> int | float:
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", ""))
        except ValueError:
            raise InvalidValue("is not a number") from None
    if not is_number(value) or not math.isfinite(value):
        raise InvalidValue("is not a number")
    return value


def as_integer(value: Any) -> int:
    if isinstance(value, str) and INTEGER_RE.match(value.strip()):
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidValue("is not a whole number")


def as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise InvalidValue("is not yes/no")


def as_date(value: Any) -> str:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise InvalidValue("is not a date (YYYY-MM-DD)")


def as_email(value: Any) -> str:
    if isinstance(value, str) and EMAIL_RE.match(value.strip()):
        return value.strip()
    raise InvalidValue("is not an e-mail address")


def as_phone(value: Any) -> str:
    compact = re.sub(r"[\s().-]", "", value) if isinstance(value, str) else ""
    if PHONE_RE.match(compact):
        return compact
    raise InvalidValue("is not a phone number")


CONVERTERS = {
    "string": as_string,
    "number": as_number,
    "integer": as_integer,
    "boolean": as_boolean,
    "date": as_date,
    "email": as_email,
    "phone": as_phone,
}


def clean_value(type_: str, value: Any) -> Any:
    """The value converted to its declared type; ``None`` for empty; InvalidValue when it does not fit."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return CONVERTERS.get(type_, as_string)(value)


def validate_fields(fields: list[dict[str, Any]], raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Every declared field (None when missing or invalid) and a note per dropped value."""
    clean: dict[str, Any] = {}
    notes: list[str] = []
    for f in fields:
        name, type_ = f["name"], f.get("type", "string")
        try:
            clean[name] = clean_value(type_, raw.get(name))
        except InvalidValue as exc:
            clean[name] = None
            notes.append(f"Extraction: dropped {name} = {str(raw.get(name))[:80]!r} ({type_}): {exc}.")
    return clean, notes
