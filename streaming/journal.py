"""The journal of a live call: every record write (``calls.records``) with its live-page event (``calls.live``).

Writes run as side tasks (in the runner's set of tasks that finish even when the call ends), never on the audio
path; ``close`` waits for them (bounded) before the stream's final write. The journal also numbers the turns.
"""

from __future__ import annotations

from typing import Any

from calls import live, records
from streaming.task_set import TaskSet

LIVE_TURN_EXCLUDES = ("usage",)  # token usage is stored, not shown on the live page


class Journal:
    def __init__(self, call: records.LiveCall, writes: TaskSet) -> None:
        self._call_id = call.id
        self._call_uuid = call.call_uuid
        self._sequence = call.next_sequence
        self._writes = writes

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def turn(self, sequence: int, role: str, text: str, **fields: Any) -> None:
        """Store (or update) a turn and show it on the live page."""
        self._writes.spawn(records.save_turn(self._call_id, sequence, role, text, **fields))
        shown = {k: v for k, v in fields.items() if k not in LIVE_TURN_EXCLUDES}
        self.show("turn", {"sequence": sequence, "role": role, "text": text, **shown})

    def event(self, kind: str, data: dict[str, Any], shown: dict[str, Any] | None = None) -> None:
        """Store an event of the call; with ``shown``, also tell the live page."""
        self._writes.spawn(records.add_event(self._call_id, kind, data))
        if shown is not None:
            self.show(kind, shown)

    def show(self, kind: str, data: dict[str, Any]) -> None:
        """Only tell the live page (partial transcripts)."""
        self._writes.spawn(live.publish(self._call_uuid, kind, data))

    def metrics(self, values: dict[str, Any]) -> None:
        self._writes.spawn(records.merge_metrics(self._call_id, values))

    def error(self, provider: str, message: str, permanent: bool) -> None:
        """A provider failed: an ``error`` event, and a line in the call's error notes (shown on the call page)."""
        self.event("error", {"provider": provider, "message": message, "permanent": permanent})
        self._writes.spawn(records.add_error_note(self._call_id, f"{provider or 'provider'}: {message}"))

    def heartbeat(self) -> None:
        self._writes.spawn(records.heartbeat(self._call_id))

    async def event_now(self, kind: str, data: dict[str, Any]) -> None:
        """Store an event and wait for it (hang-up and transfer are stored before the socket closes)."""
        await records.add_event(self._call_id, kind, data)

    async def close(self, stream_id: str, recording_path: str, stream_metrics: dict[str, Any]) -> None:
        """Wait for pending writes (at most 10 s), close the stream's record, tell the live page."""
        await self._writes.wait(timeout=10)
        await records.end_stream(self._call_id, stream_id, recording_path, stream_metrics)
        await live.publish(self._call_uuid, "ended", {})
