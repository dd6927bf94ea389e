"""What a scenario expects of the agent, checked (``validate``) when it is saved and judged (``judge``) after a run.

One expectation is a one-key object (``latency_p95_ms`` and ``field`` take a companion key):

- ``{"must_say": "nine"}`` / ``{"must_not_say": "/sorr(y|ow)/"}``: what the agent said (all its turns, the
  greeting included), case-insensitive; ``/…/`` is a regular expression.
- ``{"tool": "order_status", "args": {"order_id": "1234"}}``: the agent called the tool, with at least these
  arguments (values compared as text, case-insensitive).
- ``{"ends": "hangup" | "transfer" | "voicemail"}``: how the call ended: the agent hung up, transferred it, or left
  a voicemail.
- ``{"field": "order_id", "equals": "1234"}``: the after-call extraction found this value.
- ``{"latency_p95_ms": 1500}``: the 95th percentile of the caller's voice-to-voice waits is under 1500 ms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

ENDINGS = ("hangup", "transfer", "voicemail")
KINDS = ("must_say", "must_not_say", "tool", "ends", "field", "latency_p95_ms")
ALLOWED_KEYS = {
    "must_say": {"must_say"},
    "must_not_say": {"must_not_say"},
    "tool": {"tool", "args"},
    "ends": {"ends"},
    "field": {"field", "equals"},
    "latency_p95_ms": {"latency_p95_ms"},
}


@dataclass
class Outcome:
    """What a run observed: the agent's words, its tool calls, how the call ended, extraction and latencies."""

    agent_text: list[str] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)  # {"name", "arguments"}
    endings: set[str] = field(default_factory=set)  # hangup, transfer, voicemail
    extracted: dict[str, Any] = field(default_factory=dict)
    voice_to_voice_ms: list[float] = field(default_factory=list)


def kind_of(expectation: dict) -> str:
    return next((k for k in KINDS if k in expectation), "")


def describe(expectation: dict) -> str:
    """A short name for an expectation, e.g. ``must_say "nine to six"`` (used in results and JUnit messages)."""
    kind = kind_of(expectation)
    if kind == "tool":
        args = expectation.get("args")
        return f"tool {expectation['tool']}" + (f" with {args}" if args else "")
    if kind == "field":
        return f"field {expectation['field']} = {expectation.get('equals')!r}"
    if kind == "latency_p95_ms":
        return f"latency p95 < {expectation[kind]} ms"
    if kind in ("must_say", "must_not_say"):
        return f'{kind} "{expectation[kind]}"'
    return f"{kind} {expectation.get(kind)}"


def _pattern_error(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        return "needs some text"
    if is_regex(text):
        try:
            re.compile(text[1:-1])
        except re.error as exc:
            return f"is not a valid regular expression ({exc})"
    return ""


def validate(expectations: Any) -> list[str]:
    """Every problem of an expectations list, each naming the item (empty: valid)."""
    if not isinstance(expectations, list):
        return ['Expectations must be a list of objects, e.g. [{"must_say": "hello"}].']
    problems = []
    for number, item in enumerate(expectations, 1):
        where = f"Expectation {number}"
        kind = kind_of(item) if isinstance(item, dict) else ""
        if not kind:
            problems.append(f"{where}: an object with one of {', '.join(KINDS)}.")
            continue
        if extra := set(item) - ALLOWED_KEYS[kind]:
            problems.append(f"{where} ({kind}): unknown key(s) {', '.join(sorted(extra))}.")
        value = item[kind]
        if kind in ("must_say", "must_not_say") and (error := _pattern_error(value)):
            problems.append(f"{where} ({kind}): {error}.")
        elif kind == "tool" and (not isinstance(value, str) or not value.strip()):
            problems.append(f"{where} (tool): the tool's name.")
        elif kind == "tool" and not isinstance(item.get("args", {}), dict):
            problems.append(f"{where} (tool): args must be an object of argument names and values.")
        elif kind == "ends" and value not in ENDINGS:
            problems.append(f"{where} (ends): one of {', '.join(ENDINGS)}, not {value!r}.")
        elif kind == "field" and (not isinstance(value, str) or not value.strip() or "equals" not in item):
            problems.append(f'{where} (field): {{"field": "name", "equals": value}}.')
        elif kind == "latency_p95_ms" and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            problems.append(f"{where} (latency_p95_ms): a positive number of milliseconds.")
    return problems


def is_regex(text: str) -> bool:
    return len(text) > 2 and text.startswith("/") and text.endswith("/")


def said(pattern: str, text: str) -> str | None:
    """The words of ``text`` that match ``pattern`` (case-insensitive text, or ``/regex/``), else None."""
    if is_regex(pattern):
        match = re.search(pattern[1:-1], text, re.IGNORECASE)
        return match.group(0) if match else None
    return pattern if pattern.strip().lower() in text.lower() else None


def p95(values: Sequence[float]) -> float | None:
    """Nearest-rank 95th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) or isinstance(actual, str):
        return str(expected).strip().lower() == str(actual).strip().lower()
    return bool(expected == actual)


def _judge_one(item: dict, outcome: Outcome) -> tuple[bool, str]:
    kind, value = kind_of(item), item[kind_of(item)]
    text = "\n".join(outcome.agent_text)
    if kind == "must_say":
        found = said(value, text)
        return (True, f'said "{found}"') if found is not None else (False, "the agent never said it")
    if kind == "must_not_say":
        found = said(value, text)
        return (False, f'the agent said "{found}"') if found is not None else (True, "not said")
    if kind == "tool":
        calls = [c for c in outcome.tool_calls if c.get("name") == value]
        wanted = item.get("args") or {}
        for call in calls:
            arguments = call.get("arguments") or {}
            if all(k in arguments and _same(v, arguments[k]) for k, v in wanted.items()):
                return True, f"called with {arguments}"
        if calls:
            return False, f"called, but with {[c.get('arguments') for c in calls]}"
        names = sorted({str(c.get("name")) for c in outcome.tool_calls})
        return False, "not called" + (f" (called: {', '.join(names)})" if names else " (no tool was called)")
    if kind == "ends":
        if value in outcome.endings:
            return True, f"ended with {value}"
        return False, f"no {value}" + (
            f" (the call ended with {', '.join(sorted(outcome.endings))})"
            if outcome.endings
            else " (the caller hung up)"
        )
    if kind == "field":
        if item["field"] not in outcome.extracted:
            return False, f"not extracted (extracted: {sorted(outcome.extracted) or 'nothing'})"
        actual = outcome.extracted[item["field"]]
        return _same(item["equals"], actual), f"extracted {actual!r}"
    percentile = p95(outcome.voice_to_voice_ms)
    if percentile is None:
        return False, "no reply was measured"
    return percentile < value, f"p95 {percentile:.0f} ms over {len(outcome.voice_to_voice_ms)} replies"


def judge(expectations: list[dict], outcome: Outcome) -> list[dict]:
    """One result per expectation: ``{"expectation", "kind", "passed", "detail"}``."""
    results = []
    for item in expectations:
        passed, detail = _judge_one(item, outcome)
        results.append({"expectation": describe(item), "kind": kind_of(item), "passed": passed, "detail": detail})
    return results
