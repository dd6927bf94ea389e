"""A call as plain data: the JSON export and webhook payload, the text transcript, CSV rows."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from calls.models import Call, CallEvent, Turn

CSV_HEADER = [
    "time",
    "call_uuid",
    "from",
    "to",
    "agent",
    "direction",
    "status",
    "duration_s",
    "sentiment",
    "v2v_p50_ms",
    "interruptions",
    "summary",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")  # e.g. an E.164 number: a value, never a formula


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def format_offset(ms: int | None) -> str:
    """``mm:ss.t`` from a millisecond offset ("--:--" when unknown)."""
    if ms is None:
        return "--:--"
    minutes, rest = divmod(ms, 60_000)
    return f"{minutes:02d}:{rest // 1000:02d}.{rest % 1000 // 100}"


def call_header(call: Call) -> dict[str, Any]:
    agent = {"id": call.agent_id, "name": call.agent.name, "slug": call.agent.slug} if call.agent else None
    return {
        "id": call.pk,
        "call_uuid": call.call_uuid,
        "agent": agent,
        "agent_version": call.agent_version,
        "from": call.from_number,
        "to": call.to_number,
        "direction": call.direction,
        "status": call.status,
        "created_at": iso(call.created_at),
        "answered_at": iso(call.answered_at),
        "ended_at": iso(call.ended_at),
        "duration_seconds": call.duration_seconds,
        "hangup_cause": call.hangup_cause,
        "has_recording": bool(call.recording_path),
    }


def turn_dict(turn: Turn) -> dict[str, Any]:
    return {
        "sequence": turn.sequence,
        "role": turn.role,
        "text": turn.text,
        "heard_text": turn.heard_text if turn.interrupted else turn.text,
        "interrupted": turn.interrupted,
        "start_ms": turn.start_ms,
        "end_ms": turn.end_ms,
        "latency": turn.latency,
    }


def event_dict(event: CallEvent) -> dict[str, Any]:
    return {"time": iso(event.time), "kind": event.kind, "data": event.data}


def call_as_dict(call: Call, *, full: bool = False) -> dict[str, Any]:
    """The webhook payload; ``full`` adds events, error notes and the agent config (the JSON export)."""
    data: dict[str, Any] = {
        "call": call_header(call),
        "summary": call.summary,
        "sentiment": call.sentiment,
        "sentiment_reason": call.sentiment_reason,
        "data": call.extracted_data,
        "metrics": call.metrics,
        "analysis_status": call.analysis_status,
        "transcript": [turn_dict(t) for t in call.turns.order_by("sequence")],
    }
    if full:
        data["events"] = [event_dict(e) for e in call.events.order_by("time", "id")]
        data["error_notes"] = call.error_notes
        data["agent_config"] = call.agent_snapshot
    return data


def turn_line(turn: Turn) -> str:
    speaker = turn.get_role_display()
    if turn.interrupted and turn.unheard_text:
        text = f"{turn.heard_text} [interrupted; not heard: {turn.unheard_text.strip()}]"
    elif turn.interrupted:
        text = f"{turn.heard_text} [interrupted; planned: {turn.text}]"
    else:
        text = turn.text
    return f"[{format_offset(turn.start_ms)}] {speaker}: {text}"


def transcript_text(call: Call) -> str:
    """A plain-text transcript with a short header, for download."""
    agent = f"{call.agent.name} (v{call.agent_version})" if call.agent else "no agent"
    duration = "?" if call.duration_seconds is None else call.duration_seconds
    lines = [
        f"Call {call.call_uuid}: {call.from_number} -> {call.to_number}, {call.direction}, {call.status}",
        f"Agent: {agent}",
        f"Started: {iso(call.created_at)}, duration: {duration} s",
    ]
    if call.summary:
        lines.append(f"Summary: {call.summary}")
    if call.sentiment:
        lines.append(f"Sentiment: {call.sentiment} ({call.sentiment_reason})")
    lines.extend(f"Data: {name} = {'-' if value is None else value}" for name, value in call.extracted_data.items())
    lines.append("")
    lines.extend(turn_line(t) for t in call.turns.order_by("sequence"))
    return "\n".join(lines) + "\n"


def csv_safe(value: Any) -> Any:
    """Keep spreadsheet apps from running caller-controlled text as a formula (OWASP "CSV injection"): a text
    that starts with ``= + - @``, a tab or a carriage return gets a leading single quote. Plain signed numbers are
    the one exception (``+14155550100``, ``-3.5``): a spreadsheet reads them as the number, never as a formula,
    and phone numbers in E.164 are in every row. Non-text cells (counts, durations) are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not PLAIN_NUMBER.fullmatch(value):
        return f"'{value}"
    return value


def csv_row(call: Call) -> list[Any]:
    return [
        iso(call.created_at),
        call.call_uuid,
        call.from_number,
        call.to_number,
        call.agent.name if call.agent else "",
        call.direction,
        call.status,
        "" if call.duration_seconds is None else call.duration_seconds,
        call.sentiment,
        "" if call.metrics.get("v2v_p50_ms") is None else call.metrics["v2v_p50_ms"],
        call.metrics.get("interruptions", ""),
        call.summary,
    ]


def csv_rows(calls: Iterable[Call]) -> Iterable[list[Any]]:
    """The header, then one row per call with every cell made formula-safe (``csv_safe``)."""
    yield CSV_HEADER
    for call in calls:
        yield [csv_safe(cell) for cell in csv_row(call)]
