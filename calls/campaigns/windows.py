"""Calling windows: the days and hours a row may be called, in the callee's time zone(s).

A number's zones come from ``phonenumbers`` (``time_zones_for_number``); a number that spans several zones (a
mobile in Australia, a toll-free +1 number) is called only when the window holds in *all* of them, and at the same
local date in all of them (so every zone in between holds too). A campaign's fixed zone, when set, replaces the
number's zones. A row stores its zones as a short key (``CampaignRow.timezone``, at most 64 characters): the zones
themselves, or for long lists the zones with the lowest and highest UTC offsets (January and July), which bound
every other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_zones

KEY_LENGTH = 64
SAMPLES = (datetime(2025, 1, 15, 12, tzinfo=UTC), datetime(2025, 7, 15, 12, tzinfo=UTC))
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@lru_cache(maxsize=1)
def known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def valid_zone(name: str) -> bool:
    if name not in known_zones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def number_zones(phone: str) -> list[str]:
    """The IANA zones of an E.164 number (empty when unknown)."""
    try:
        parsed = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return []
    return sorted(z for z in phone_zones.time_zones_for_number(parsed) if valid_zone(z))


def zone_key(zones: Sequence[str]) -> str:
    """``zones`` as a key of at most 64 characters (see the module docstring)."""
    joined = ",".join(sorted(zones))
    if len(joined) <= KEY_LENGTH:
        return joined
    bounds: set[str] = set()
    for when in SAMPLES:
        offsets = {z: when.astimezone(ZoneInfo(z)).utcoffset() for z in zones}
        low, high = min(offsets.values()), max(offsets.values())  # type: ignore[type-var]
        bounds.add(min(z for z, o in offsets.items() if o == low))
        bounds.add(min(z for z, o in offsets.items() if o == high))
    return ",".join(sorted(bounds))[:KEY_LENGTH]


def key_zones(key: str) -> list[str]:
    return [z for z in key.split(",") if z and valid_zone(z)]


def row_zones(campaign_zone: str, row_key: str) -> list[str]:
    """The zones a row's window is checked in: the campaign's fixed zone, else the row's own."""
    return [campaign_zone] if campaign_zone else key_zones(row_key)


def is_open(days: Iterable[int], start: time, end: time, zones: Sequence[str], now: datetime) -> bool:
    """The window holds now in every zone, at one local date (no zone, no window)."""
    if not zones:
        return False
    allowed = set(days)
    dates = set()
    for name in zones:
        local = now.astimezone(ZoneInfo(name))
        if local.weekday() not in allowed or not start <= local.time().replace(tzinfo=None) < end:
            return False
        dates.add(local.date())
    return len(dates) == 1


def validate_window(days: object, start: time | None, end: time | None, zone: str) -> dict[str, str]:
    """Problems with a window's settings, by field name (empty when fine)."""
    errors: dict[str, str] = {}
    listed = list(days) if isinstance(days, list) else []
    ok_days = bool(listed) and all(type(d) is int and 0 <= d <= 6 for d in listed)
    if not ok_days or len(set(listed)) != len(listed):
        errors["window_days"] = "Give the weekdays as distinct numbers 0 (Monday) to 6 (Sunday), e.g. [0, 1, 2, 3, 4]."
    if start is not None and end is not None and not start < end:
        errors["window_end"] = "The window must end after it starts, on the same day (e.g. 09:00 to 18:00)."
    if zone and not valid_zone(zone):
        errors["timezone"] = f"“{zone}” is not an IANA time zone, e.g. Europe/Paris or America/New_York."
    return errors


def describe(days: Iterable[int], start: time, end: time, zone: str) -> str:
    names = ", ".join(DAY_NAMES[d] for d in sorted(days) if 0 <= d < 7)
    where = zone or "each callee's time zone"
    return f"{names} {start:%H:%M}–{end:%H:%M} ({where})"
