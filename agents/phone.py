"""Phone numbers as people type them → E.164, with the maintained ``phonenumbers`` library.

``normalize_phone("+1 (415) 555-0199")`` is ``"+14155550199"``. A number without its country code
("4155550100") is refused with a clear message rather than guessed into some country. SIP URIs are not phone
numbers: callers that accept them check for them first. Plivo's own digit strings (``14155550100``) go through
``agents.models.normalize_number`` instead.
"""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError

EXAMPLE = "+1 415 555 0100"
MAX_INPUT = 64


def invalid(message: str, value: str) -> ValidationError:
    return ValidationError(message, code="invalid_phone", params={"value": value})


def normalize_phone(raw: str) -> str:
    """``raw`` as E.164 ("+14155550199"); ``ValidationError`` (code "invalid_phone") when it is not a valid number
    with its country code."""
    value = (raw or "").strip()
    if not value:
        raise invalid(f"Enter a phone number with its country code, e.g. {EXAMPLE}.", value)
    if len(value) > MAX_INPUT:
        raise invalid(f"That is too long for a phone number (at most {MAX_INPUT} characters).", value[:MAX_INPUT])
    if value.startswith("00"):
        value = "+" + value[2:]
    if not any(ch.isdigit() for ch in value):
        raise invalid(f"“{value}” is not a phone number. Write it with its country code, e.g. {EXAMPLE}.", value)
    if not value.startswith("+"):
        raise invalid(
            f"“{value}” has no country code: start with + and the country code, e.g. {EXAMPLE}.",
            value,
        )
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise invalid(
            f"“{value}” is not a phone number. Write it with its country code, e.g. {EXAMPLE}.", value
        ) from None
    if not phonenumbers.is_valid_number(parsed):
        raise invalid(
            f"“{value}” is not a valid phone number for its country code (+{parsed.country_code}). "
            f"Check the digits, e.g. {EXAMPLE}.",
            value,
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def is_sip_uri(value: str) -> bool:
    """A SIP address (``sip:…``, ``sips:…`` or ``user@host``), which is not a phone number."""
    text = (value or "").strip().lower()
    return text.startswith(("sip:", "sips:")) or "@" in text
