"""What we store from a Plivo request, with one clear rule per value: stored whole, mapped, or refused with a 400
(never a DataError 500 from a column too short or a NUL byte PostgreSQL cannot store).

- ``CallUUID``: stored whole up to ``Call.call_uuid``'s length; longer is refused.
- ``From`` / ``To``: phone numbers stored as E.164; SIP URIs (``sip:…`` / ``sips:…`` / ``user@host``) as sent;
  longer than the column is refused.
- ``Direction``: Plivo sends ``inbound``, ``outbound`` and variants such as ``outbound-api``: anything starting
  with "outbound" is outbound, anything else (missing, unknown) inbound. The raw form stays in the log (answer) and
  in ``hangup_data`` (hangup).
- ``HangupCause``: cut to the column's length (the raw value stays in ``hangup_data``).
- ``Duration``: whole seconds in the column's range, else ignored.
- Any parameter with a NUL character is refused.
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBadRequest

from agents.models import normalize_number
from calls.models import Call

MAX_DURATION_SECONDS = 2**31 - 1  # PositiveIntegerField on PostgreSQL
SIP_SCHEMES = ("sip:", "sips:")


def max_length(field_name: str) -> int:
    return Call._meta.get_field(field_name).max_length or 0


def stored_number(raw: str) -> str:
    value = raw.strip()
    if value.lower().startswith(SIP_SCHEMES) or "@" in value:
        return value
    return normalize_number(value) or value


def call_direction(params: dict[str, str]) -> str:
    outbound = params.get("Direction", "").strip().lower().startswith("outbound")
    return Call.Direction.OUTBOUND if outbound else Call.Direction.INBOUND


def duration_seconds(raw: str) -> int | None:
    value = raw.strip()
    if value.isascii() and value.isdigit() and int(value) <= MAX_DURATION_SECONDS:
        return int(value)
    return None


def too_long(params: dict[str, str]) -> str:
    """Why a value is longer than its column, or ""."""
    stored = {
        "CallUUID": (params.get("CallUUID", ""), max_length("call_uuid")),
        "From": (stored_number(params.get("From", "")), max_length("from_number")),
        "To": (stored_number(params.get("To", "")), max_length("to_number")),
    }
    for name, (value, limit) in stored.items():
        if len(value) > limit:
            return f"{name} is {len(value)} characters long; at most {limit} are accepted."
    return ""


def refused(params: dict[str, str]) -> HttpResponse | None:
    """A clear 400 for a request whose values cannot be stored as they are, else None."""
    with_nul = sorted(name for name, value in params.items() if "\x00" in name or "\x00" in value)
    if with_nul:
        reason = f"Parameter(s) with a NUL character: {', '.join(repr(n) for n in with_nul)}."
    else:
        reason = too_long(params)
    return HttpResponseBadRequest(reason, content_type="text/plain") if reason else None


# <Speak> and <Dial callerId>: the languages Plivo's Speak voices cover, and the number the person is shown.
SPEAK_LANGUAGES = {"en-US", "en-GB", "en-AU", "en-IN", "fr-FR", "fr-CA", "de-DE", "es-ES", "es-US", "it-IT"}
SPEAK_LANGUAGES |= {"pt-BR", "pt-PT", "nl-NL", "da-DK", "sv-SE", "pl-PL", "ru-RU", "ja-JP", "ko-KR", "zh-CN"}


def caller_id(call: Call) -> str:
    """What the person's phone shows: our agent's number on outbound calls, the caller's on inbound ones (ours
    when the caller's is not a phone number, e.g. a SIP URI or withheld)."""
    ours, theirs = (call.from_number, call.to_number)
    if call.direction == Call.Direction.INBOUND:
        ours, theirs = call.to_number, call.from_number
        if theirs.startswith("+") and theirs[1:].isdigit():
            return theirs
    return ours if ours.startswith("+") else ""
