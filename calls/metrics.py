"""Per-call aggregates (pure functions over turns): duration, talk time, interruptions, latency percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TurnFacts:
    """What the aggregates need of a turn (built from ``calls.models.Turn``)."""

    role: str
    start_ms: int | None
    end_ms: int | None
    interrupted: bool = False
    latency: dict[str, Any] | None = None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0–100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def talk_ms(turns: Iterable[TurnFacts], role: str) -> int:
    """Sum of ``end_ms - start_ms`` over the role's turns that have both offsets."""
    return sum(
        t.end_ms - t.start_ms
        for t in turns
        if t.role == role and t.start_ms is not None and t.end_ms is not None and t.end_ms >= t.start_ms
    )


def voice_to_voice(turns: Iterable[TurnFacts]) -> list[float]:
    """The voice-to-voice latencies (ms) of agent turns that measured one."""
    values = []
    for t in turns:
        value = (t.latency or {}).get("voice_to_voice_ms")
        if t.role == "agent" and isinstance(value, int | float) and not isinstance(value, bool):
            values.append(float(value))
    return values


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def duration_seconds(
    plivo_duration: int | None, started: datetime | None, ended: datetime | None, turns: Sequence[TurnFacts]
) -> int | None:
    """Plivo's billed duration when known, else the answered→ended time, else the last turn's end."""
    if plivo_duration is not None:
        return plivo_duration
    if started and ended and ended >= started:
        return round((ended - started).total_seconds())
    ends = [t.end_ms for t in turns if t.end_ms is not None]
    return round(max(ends) / 1000) if ends else None


def greeting_ms(engine_metrics: dict[str, Any], turns: Sequence[TurnFacts]) -> float | None:
    """The engine's measured greeting latency, else the start offset of a greeting that opened the call."""
    value = engine_metrics.get("greeting_ms")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    first = turns[0] if turns else None
    if first is not None and first.role == "agent" and first.start_ms is not None:
        return first.start_ms
    return None


def call_aggregates(
    turns: Sequence[TurnFacts],
    *,
    engine_metrics: dict[str, Any],
    plivo_duration: int | None,
    started: datetime | None,
    ended: datetime | None,
) -> dict[str, Any]:
    """Every aggregate stored in ``Call.metrics`` next to what the engine measured."""
    v2v = voice_to_voice(turns)
    return {
        "duration_s": duration_seconds(plivo_duration, started, ended, turns),
        "caller_talk_ms": talk_ms(turns, "caller"),
        "agent_talk_ms": talk_ms(turns, "agent"),
        "caller_turns": sum(t.role == "caller" for t in turns),
        "agent_turns": sum(t.role == "agent" for t in turns),
        "interruptions": sum(t.role == "agent" and t.interrupted for t in turns),
        "v2v_count": len(v2v),
        "v2v_p50_ms": rounded(percentile(v2v, 50)),
        "v2v_p95_ms": rounded(percentile(v2v, 95)),
        "greeting_ms": greeting_ms(engine_metrics, turns),
    }
