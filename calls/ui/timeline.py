"""The call detail's conversation: turns and events merged in time order, with readable labels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calls.export import format_offset
from calls.models import Call, CallEvent, Turn

HIDDEN_EVENTS = {"stream-status"}  # raw carrier callbacks: in the JSON export, not in the chat


@dataclass(frozen=True)
class TimelineItem:
    """A chat bubble (turn) or an inline note (event), at ``offset_ms`` from the stream start."""

    at: datetime
    offset_ms: int | None
    turn: Turn | None = None
    event: CallEvent | None = None
    label: str = ""

    @property
    def offset(self) -> str:
        return format_offset(self.offset_ms)


def call_start(call: Call) -> datetime:
    return call.stream_started_at or call.answered_at or call.created_at


def compact(value: Any) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, sort_keys=True)


def plain(value: Any) -> str:
    """A value in words: strings as they are, lists joined, mappings as ``key = value`` pairs, no JSON."""
    if isinstance(value, dict):
        return ", ".join(f"{key} = {plain(item)}" for key, item in sorted(value.items())) or "nothing"
    if isinstance(value, list | tuple):
        return ", ".join(plain(item) for item in value)
    return "—" if value is None or value == "" else str(value)


HANGUP_REASONS = {
    "goodbye": "after the goodbye line",
    "end-call": "the caller asked to end the call",
    "silence": "the caller stayed silent",
    "operator": "an operator hung up",
    "voicemail": "after leaving a voicemail",
    "max-duration": "the call reached its maximum length",
}


def hangup_label(d: dict[str, Any]) -> str:
    reason = str(d.get("reason") or "")
    result = str(d.get("result") or "")
    text = f"The agent hung up ({HANGUP_REASONS.get(reason, reason.replace('-', ' ') or 'no reason given')})"
    if result.startswith("failed"):
        return f"{text}; Plivo's hang-up request {result}"
    return text + ("; the audio stream was closed" if result == "stream-closed" else "")


def ms_text(value: Any) -> str:
    return f"{round(value)} ms" if isinstance(value, int | float) and not isinstance(value, bool) else "?"


def event_label(event: CallEvent) -> str:
    """One line of plain text describing an event (escaped by the template like any text)."""
    d = event.data or {}
    labels = {
        "dtmf": lambda: f"Keypad: {d.get('digit', '?')}",
        "dtmf-sent": lambda: f"The agent pressed {d.get('digits', '?')} on the keypad",
        "barge-in": lambda: f"Caller interrupted the agent (reaction {ms_text(d.get('reaction_ms'))})",
        "pause": lambda: f"The caller's voice paused the agent (reaction {ms_text(d.get('reaction_ms'))})",
        "resume": lambda: "The agent went on where it was paused",
        "tool": lambda: f"Tool call {d.get('name', '?')}({compact(d.get('arguments', {}))})",
        "transfer": lambda: (
            f"Transfer to {d.get('destination') or d.get('number') or '?'}"
            + (f" ({d['number']})" if d.get("number") and d.get("destination") else "")
            + (f": {d['status']}" if d.get("status") else "")
        ),
        "error": lambda: (
            f"Error from {d.get('provider') or 'a provider'}: {d.get('message', '')}"
            + (" (permanent)" if d.get("permanent") else "")
        ),
        "hangup": lambda: hangup_label(d),
        "hangup-requested": lambda: f"Hang-up requested by {d.get('by', '?')}",
        "ringing": lambda: "The callee's phone is ringing",
        "machine-detection": lambda: f"Machine detection: {d.get('Machine') or d.get('machine') or 'answered'}",
        "webhook": lambda: f"Webhook delivered (HTTP {d.get('status', '?')}, attempt {d.get('attempt', '?')})",
        "webhook-failed": lambda: f"Webhook failed: {d.get('error', '?')}",
    }
    describe = labels.get(event.kind)
    return describe() if describe else f"{event.kind.replace('-', ' ').capitalize()}: {plain(d)}"


def timeline(call: Call) -> list[TimelineItem]:
    """Turns (placed at their stream offset) and visible events (at their wall time), oldest first."""
    start = call_start(call)
    items = []
    for turn in call.turns.order_by("sequence"):
        at = start + timedelta(milliseconds=turn.start_ms) if turn.start_ms is not None else turn.created_at
        items.append(TimelineItem(at, turn.start_ms, turn=turn))
    for event in call.events.exclude(kind__in=HIDDEN_EVENTS).order_by("time", "id"):
        offset = max(0, round((event.time - start).total_seconds() * 1000))
        items.append(TimelineItem(event.time, offset, event=event, label=event_label(event)))
    return sorted(items, key=lambda item: (item.at, item.event is not None))


def latency_rows(call: Call) -> list[tuple[str, dict[str, Any]]]:
    """(label, latency) of every agent turn that measured something, for the waterfall chart. A reply is numbered
    like the simulator numbers it: "turn N" answers the caller's Nth turn; a fixed line is named ("greeting")."""
    rows, caller_turns = [], 0
    for turn in call.turns.filter(role__in=[Turn.Role.CALLER, Turn.Role.AGENT]).order_by("sequence"):
        if turn.role == Turn.Role.CALLER:
            caller_turns += 1
            continue
        if not turn.latency:
            continue
        what = str(turn.latency.get("line") or f"turn {caller_turns}")
        cut = " cut" if turn.interrupted else ""
        rows.append((f"{what}{cut} {format_offset(turn.start_ms)}", turn.latency))
    return rows
