"""How the staff UI says things: one unit rule for durations, and the truth about a call's state.

Durations: under 10 s in ms ("850 ms"), from 10 s in seconds ("16 s", "1 min 5 s"). A call's state says what is
going on in words, including the in-between states a status alone hides (stream ended, hang-up not yet received).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from calls.models import Call
from calls.tasks import NEVER_STREAMED_CAUSE, ORPHAN_CAUSE

DASH = "—"


def duration_ms(value: float | int | None) -> str:
    """A duration given in ms: ms under 10 s, then seconds (minutes from 60 s)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    if abs(value) < 10_000:
        return f"{value:.1f} ms" if isinstance(value, float) else f"{value} ms"
    return duration_s(value / 1000)


def duration_s(value: float | int | None) -> str:
    """A duration given in seconds: ms under 10 s, "16 s", "1 min 5 s", "1 h 2 min"."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return DASH
    if abs(value) < 10 and value != int(value):
        return f"{round(value * 1000)} ms"
    seconds = round(value)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


@dataclass(frozen=True)
class CallState:
    """``key``: a CSS/test hook (live, ringing, awaiting-hangup, queued, ended, swept); ``label``: a few words;
    ``note``: the explanation shown next to the status, when there is more to say."""

    key: str
    label: str
    note: str = ""


def sweep_time(call: Call) -> datetime | None:
    return call.stream_ended_at + timedelta(minutes=settings.ORPHAN_CALL_MINUTES) if call.stream_ended_at else None


def call_state(call: Call, now: datetime | None = None) -> CallState:
    """What is true of the call right now, in words."""
    now = now or timezone.now()
    open_ = call.ended_at is None and call.status in (Call.Status.RINGING, Call.Status.IN_PROGRESS)
    if open_ and call.stream_ended_at is not None:
        due = sweep_time(call)
        when = timezone.localtime(due).strftime("%H:%M %Z") if due else ""
        late = due is not None and now >= due
        note = (
            "The audio stream ended; waiting for Plivo's hang-up callback. "
            + ("The sweeper closes the call on its next round." if late else f"If it never comes, the sweeper "
               f"closes the call at {when}.")
        )  # fmt: skip
        return CallState("awaiting-hangup", "stream ended, waiting for Plivo's hang-up", note)
    if open_ and call.stream_started_at is not None:
        return CallState("live", "on the line")
    if open_ and call.answered_at is not None:
        return CallState("connecting", "answered, waiting for the audio stream")
    if open_:
        return CallState("ringing", "ringing")
    if call.status == Call.Status.QUEUED:
        return CallState("queued", "queued to be dialled")
    if call.hangup_cause == ORPHAN_CAUSE:
        return CallState("swept", "ended", "Plivo's hang-up callback never came: the sweeper closed the call.")
    if call.hangup_cause == NEVER_STREAMED_CAUSE:
        return CallState("swept", "failed", "Plivo never opened the call's audio stream.")
    return CallState("ended", "ended")


def analysis_state(call: Call) -> str:
    """The analysis in words: done/failed/pending, or why it has not run yet."""
    if call.analysis_status:
        return call.get_analysis_status_display()
    if call.ended_at is None and call.status in (Call.Status.RINGING, Call.Status.IN_PROGRESS, Call.Status.QUEUED):
        return "after the call ends"
    if call.finalized_at is not None:
        return "not needed (nothing was said)"
    return "waiting to run"


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end and end >= start else None
