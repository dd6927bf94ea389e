"""``{{name}}`` placeholders in an agent's lines, filled from a call's variables. Pure: no Django, no I/O.

A placeholder is ``{{`` a name (letters, digits, ``_``, ``.``, ``-``; spaces inside the braces are allowed) ``}}``.
``fill`` never leaves a literal ``{{name}}`` in spoken text: a missing value becomes "" (placing a call refuses
missing variables first; an inbound call lacking one says the line without it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.\-]{0,63})\s*\}\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
MAX_VALUE = 500  # characters of one value
MAX_VARIABLES = 50
TEMPLATED = (  # the agent's lines that may hold placeholders
    "system_prompt",
    "greeting",
    "goodbye_message",
    "voicemail_message",
    "reprompt_text",
    "fallback_line",
    "transfer_line",
)


def find_variables(text: str) -> set[str]:
    """The placeholder names in ``text``."""
    return set(PLACEHOLDER.findall(text or ""))


def find_all(texts: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for text in texts:
        names |= find_variables(text)
    return names


def fill(text: str, variables: Mapping[str, object]) -> str:
    """``text`` with each ``{{name}}`` replaced by ``variables[name]`` (missing: "", spaces tidied)."""
    if not text or "{{" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        found = variables.get(match.group(1))
        return "" if found is None else str(found)

    return PLACEHOLDER.sub(value, text)


def fill_lines(snapshot: dict, variables: Mapping[str, object]) -> dict:
    """A copy of an agent snapshot with every templated line filled."""
    return snapshot | {name: fill(str(snapshot[name]), variables) for name in TEMPLATED if snapshot.get(name)}


def valid_name(name: str) -> bool:
    return bool(NAME.match(name))


BUILT_IN = ("customer_number", "agent_number", "call_date", "call_time", "call_weekday")


def call_variables(customer_number: str, agent_number: str, when: datetime) -> dict[str, str]:
    """The variables every call has: the other party's number, ours, and the local date and time of the call."""
    return {
        "customer_number": customer_number,
        "agent_number": agent_number,
        "call_date": when.strftime("%Y-%m-%d"),
        "call_time": when.strftime("%H:%M"),
        "call_weekday": when.strftime("%A"),
    }
