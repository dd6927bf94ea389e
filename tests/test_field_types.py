"""Extracted values are validated against the declared field types; invalid ones are dropped with a note."""

from __future__ import annotations

import re

import pytest

from calls.field_types import InvalidValue, clean_value, validate_fields


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("string", "  order 42 ", "order 42"),
        ("string", 17, "17"),
        ("number", "1,250.5", 1250.5),
        ("number", 3, 3),
        ("integer", "12", 12),
        ("integer", 7.0, 7),
        ("boolean", "Yes", True),
        ("boolean", False, False),
        ("date", "2025-03-11", "2025-03-11"),
        ("email", " jane@example.com", "jane@example.com"),
        ("phone", "+1 (415) 555-0111", "+14155550111"),
        ("phone", "415.555.0111", "4155550111"),
        ("integer", None, None),
        ("email", "  ", None),
    ],
)
def test_valid_values_are_normalized(type_, raw, expected):
    assert clean_value(type_, raw) == expected


@pytest.mark.parametrize(
    ("type_", "raw", "reason"),
    [
        ("string", ["a"], "is not text"),
        ("number", "many", "is not a number"),
        ("number", True, "is not a number"),
        ("number", float("nan"), "is not a number"),
        ("integer", 2.5, "is not a whole number"),
        ("integer", "three", "is not a whole number"),
        ("boolean", "maybe", "is not yes/no"),
        ("date", "next Tuesday", "is not a date (YYYY-MM-DD)"),
        ("date", "2025-02-30", "is not a date (YYYY-MM-DD)"),
        ("email", "jane at example", "is not an e-mail address"),
        ("phone", "call me", "is not a phone number"),
        ("phone", 4155550111, "is not a phone number"),
    ],
)
def test_invalid_values_are_rejected(type_, raw, reason):
    with pytest.raises(InvalidValue, match=f"^{re.escape(reason)}$"):
        clean_value(type_, raw)


def test_every_declared_field_is_returned_and_drops_are_noted():
    fields = [
        {"name": "email", "type": "email"},
        {"name": "visits", "type": "integer"},
        {"name": "vip", "type": "boolean"},
    ]
    clean, notes = validate_fields(fields, {"email": "jane@example.com", "visits": "three", "extra": "ignored"})
    assert clean == {"email": "jane@example.com", "visits": None, "vip": None}
    assert notes == ["Extraction: dropped visits = 'three' (integer): is not a whole number."]
