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


def event_label(event: CallEvent) -> str:
    """One line of plain text describing an event (escaped by the template like any text)."""
    d = event.data or {}
    labels = {
        "dtmf": lambda: f"Keypad: {d.get('digit', '?')}",
        "barge-in": lambda: f"Caller interrupted the agent (reaction {d.get('reaction_ms', '?')} ms)",
        "tool": lambda: f"Tool call {d.get('name', '?')}({compact(d.get('arguments', {}))})",
        "transfer": lambda: f"Transfer to {d.get('number', '?')}: {d.get('status', '?')}",
        "error": lambda: (
            f"Error from {d.get('provider', '?')}: {d.get('message', '')}"
            + (" (permanent)" if d.get("permanent") else "")
        ),
        "hangup-requested": lambda: f"Hang-up requested by {d.get('by', '?')}",
        "webhook": lambda: f"Webhook delivered (HTTP {d.get('status', '?')}, attempt {d.get('attempt', '?')})",
        "webhook-failed": lambda: f"Webhook failed: {d.get('error', '?')}",
    }
    describe = labels.get(event.kind)
    return describe() if describe else f"{event.kind}: {compact(d)}"


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
    """(label, latency) of every agent turn that measured something, for the waterfall chart."""
    turns = call.turns.filter(role=Turn.Role.AGENT).order_by("sequence")
    return [(f"#{t.sequence} {format_offset(t.start_ms)}", t.latency) for t in turns if t.latency]
