"""Stereo call recording streamed to a WAV file: caller on the left, agent on the right, as the caller heard it.

The caller's frames set the timeline (one 20 ms slot per inbound frame). Agent frames are placed in the slot in
which they play; frames cut by a barge-in before they played are dropped. Nothing is held beyond a few slots.
"""

from __future__ import annotations

import audioop
import wave
from pathlib import Path

from streaming.audio import FRAME_BYTES, FRAME_MS

_PCM_SILENCE = b"\x00\x00" * FRAME_BYTES


class CallRecorder:
    def __init__(self, path: Path, started_at: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._t0 = started_at
        self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed in close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(8000)
        self._slot = 0
        self._agent: dict[int, bytes] = {}
        self.closed = False

    def _slot_of(self, at: float) -> int:
        return round((at - self._t0) * 1000 / FRAME_MS)

    def agent_frame(self, play_at: float, ulaw: bytes) -> None:
        slot = max(self._slot, self._slot_of(play_at))
        while slot in self._agent:
            slot += 1
        self._agent[slot] = ulaw

    def drop_agent_after(self, at: float) -> None:
        """Forget agent audio that was scheduled but never played (barge-in)."""
        cutoff = self._slot_of(at)
        for slot in [s for s in self._agent if s >= cutoff]:
            del self._agent[slot]

    def caller_frame(self, ulaw: bytes) -> None:
        if self.closed:
            return
        agent = self._agent.pop(self._slot, None)
        self._write(ulaw, agent)
        self._slot += 1

    def _write(self, caller: bytes | None, agent: bytes | None) -> None:
        left = audioop.ulaw2lin(caller, 2) if caller else _PCM_SILENCE
        right = audioop.ulaw2lin(agent, 2) if agent else _PCM_SILENCE
        if len(left) != len(right):
            size = max(len(left), len(right))
            left, right = left.ljust(size, b"\x00"), right.ljust(size, b"\x00")
        stereo = audioop.add(audioop.tostereo(left, 2, 1, 0), audioop.tostereo(right, 2, 0, 1), 2)
        self._wav.writeframesraw(stereo)

    def close(self) -> None:
        """Write the agent audio that played after the caller's last frame, then finish the file."""
        if self.closed:
            return
        if self._agent:
            for slot in range(self._slot, max(self._agent) + 1):
                self._write(None, self._agent.get(slot))
        self._agent.clear()
        self.closed = True
        self._wav.close()
