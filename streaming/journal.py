"""The journal of a live call: every record write (``calls.records``) with its live-page event (``calls.live``).

Writes run as side tasks (in the runner's set of tasks that finish even when the call ends), never on the audio
path, on the engine's own database threads; ``close`` waits for them (bounded) before the stream's final write.
The journal also numbers the turns and keeps the call's metrics in memory: they are written with the heartbeat
(when they changed) and with the stream's final write, never one database round trip per value.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from calls import live, records
from streaming.task_set import TaskSet

log = logging.getLogger(__name__)
LIVE_TURN_EXCLUDES = ("usage",)  # token usage is stored, not shown on the live page
START_RETRIES_S = (0.5, 2.0, 5.0)  # a failed write of the stream's start is tried again after each of these


class Journal:
    def __init__(self, call: records.LiveCall, writes: TaskSet, stream_id: str = "") -> None:
        self._call_id = call.id
        self._call_uuid = call.call_uuid
        self._sequence = call.next_sequence
        self._writes = writes
        self._stream_id = stream_id
        self._metrics: dict[str, Any] = {}
        self._metrics_changed = False

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    async def stream_started(self, at: datetime, replaces: str) -> records.StreamStart:
        """Record the stream's start (the runner runs this as a side task: the greeting never waits for it). A
        failure (the database at its limit, a blip) is tried again: unrecorded, the stream would look dead to the
        sweeper."""
        for pause in START_RETRIES_S:
            try:
                return await records.stream_started(self._call_id, self._stream_id, at, replaces)
            except Exception as exc:
                log.warning(
                    "Call %s: recording the stream's start failed (%r); again in %s s", self._call_uuid, exc, pause
                )
                await asyncio.sleep(pause)
        return await records.stream_started(self._call_id, self._stream_id, at, replaces)

    def turn(self, sequence: int, role: str, text: str, **fields: Any) -> None:
        """Store (or update) a turn and show it on the live page."""
        self._writes.spawn(records.save_turn(self._call_id, sequence, role, text, **fields))
        shown = {k: v for k, v in fields.items() if k not in LIVE_TURN_EXCLUDES}
        self._publish("turn", {"sequence": sequence, "role": role, "text": text, **shown})

    def event(self, kind: str, data: dict[str, Any], shown: dict[str, Any] | None = None) -> None:
        """Store an event of the call; with ``shown``, also tell the live page."""
        self._writes.spawn(records.add_event(self._call_id, kind, data))
        if shown is not None:
            self._publish(kind, shown)

    def _publish(self, kind: str, data: dict[str, Any]) -> None:
        """Tell the live page, watched or not (a page that joins later gets the turns it missed from the DB)."""
        self._writes.spawn(live.publish(self._call_uuid, kind, data))

    def tool_calls(self, sequence: int, tool_calls: list[dict[str, Any]]) -> None:
        """Update the tool calls stored on an agent turn (a result that came in after it was stored), and tell the
        live page."""
        self._writes.spawn(records.save_tool_calls(self._call_id, sequence, tool_calls))
        self._publish("tools", {"sequence": sequence, "tool_calls": tool_calls})

    def tool_progress(self, sequence: int, tool_call: dict[str, Any]) -> None:
        """A tool call started or finished (before its turn is stored): only for a page watching the call."""
        self.show("tool", {"sequence": sequence, "tool_call": tool_call})

    def show(self, kind: str, data: dict[str, Any]) -> None:
        """Only tell the live page, and only while one watches the call (partial transcripts: many per second)."""
        self._writes.spawn(live.publish_live(self._call_uuid, kind, data))

    def metrics(self, values: dict[str, Any]) -> None:
        """Merge ``values`` into the call's metrics (in memory; written with the heartbeat and at the end)."""
        self._metrics.update(values)
        self._metrics_changed = True

    def error(self, provider: str, message: str, permanent: bool) -> None:
        """A provider failed: an ``error`` event, and a line in the call's error notes (shown on the call page)."""
        self.event("error", {"provider": provider, "message": message, "permanent": permanent})
        self._writes.spawn(records.add_error_note(self._call_id, f"{provider or 'provider'}: {message}"))

    def heartbeat(self) -> None:
        """The call is alive here; the metrics go along when they changed (what a crash would otherwise lose)."""
        metrics = dict(self._metrics) if self._metrics_changed else None
        self._metrics_changed = False
        self._writes.spawn(records.heartbeat(self._call_id, self._stream_id, metrics))

    async def event_now(self, kind: str, data: dict[str, Any]) -> None:
        """Store an event and wait for it (hang-up and transfer are stored before the socket closes)."""
        await records.add_event(self._call_id, kind, data)

    async def close(self, stream_id: str, recording_path: str, stream_metrics: dict[str, Any]) -> None:
        """Wait for pending writes (at most 10 s), close the stream's record with all its metrics (one update),
        tell the live page."""
        await self._writes.wait(timeout=10)
        metrics = {**self._metrics, "stream": stream_metrics} if stream_metrics else dict(self._metrics)
        await records.end_stream(self._call_id, stream_id, recording_path, metrics)
        await live.publish(self._call_uuid, "ended", {})
