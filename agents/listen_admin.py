"""Validation of a phone number's listen-mode settings (who the caller is connected to, the alert phrases)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from agents.numbers import PhoneNumber
from agents.phone import is_sip_uri, normalize_phone

LISTEN_NEEDS_TARGET = (
    "A number in listen mode needs someone to connect the caller to: enter phone numbers with their country code "
    "(e.g. +1 415 555 0100) or SIP addresses (sip:alice@example.com), separated by commas."
)
SIP_URI = re.compile(r"^sips?:[^\s@:;,]+@[^\s@;,]+$", re.IGNORECASE)
MAX_PHRASE = 100
MAX_TARGETS = 10


def sip_target(value: str) -> str:
    """``value`` as a ``sip:user@host`` URI (``user@host`` gets the ``sip:`` scheme), or a ValidationError."""
    uri = value if value.lower().startswith(("sip:", "sips:")) else f"sip:{value}"
    if not SIP_URI.match(uri):
        raise ValidationError(f"“{value}” is not a SIP address: write it as sip:user@example.com.", code="invalid_sip")
    return uri


def listen_dial_value(raw: str) -> str:
    """The comma-separated targets, each an E.164 number or a SIP URI, stored as "a, b"; errors name the target."""
    targets = [part.strip() for part in (raw or "").split(",") if part.strip()]
    if len(targets) > MAX_TARGETS:
        raise ValidationError(f"At most {MAX_TARGETS} numbers or addresses ring at once.", code="too_many")
    cleaned = [sip_target(t) if is_sip_uri(t) else normalize_phone(t) for t in targets]
    duplicates = sorted({t for t in cleaned if cleaned.count(t) > 1})
    if duplicates:
        raise ValidationError(f"{', '.join(duplicates)} is listed twice.", code="duplicate")
    value = ", ".join(cleaned)
    limit = PhoneNumber._meta.get_field("listen_dial").max_length or 0
    if len(value) > limit:
        raise ValidationError(f"That is too long ({len(value)} characters; at most {limit}).", code="too_long")
    return value


def alert_phrases_value(raw: str) -> str:
    """One phrase per line: blank lines and repeats (ignoring case) dropped, inner spaces collapsed."""
    phrases: list[str] = []
    for line in (raw or "").splitlines():
        phrase = " ".join(line.split())
        if not phrase:
            continue
        if len(phrase) > MAX_PHRASE:
            raise ValidationError(
                f"“{phrase[:40]}…” is too long for an alert phrase (at most {MAX_PHRASE} characters)."
            )
        if not any(ch.isalnum() for ch in phrase):
            raise ValidationError(f"“{phrase}” has no word to listen for.")
        if phrase.lower() not in (p.lower() for p in phrases):
            phrases.append(phrase)
    return "\n".join(phrases)
