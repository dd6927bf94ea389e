"""The reply's deadline: a timeout scope from the caller's end of speech (or the final transcript, or now)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from streaming.reply import TurnTiming


@dataclass
class Deadline:
    """A timeout scope that expires ``seconds`` after a monotonic instant (now, if None) until cancelled."""

    scope: asyncio.Timeout

    @classmethod
    def after(cls, since: float, seconds: float) -> Deadline:
        return cls(asyncio.timeout(max(0.0, seconds - (time.monotonic() - since))))

    @classmethod
    def for_reply(cls, timing: TurnTiming, seconds: float) -> Deadline:
        """From the caller's end of speech; from the final transcript when that came much later (a slow STT) or the
        reply answers a key press; from now when neither is recent (a reply to text held back while speaking)."""
        now = time.monotonic()
        recent = [t for t in (timing.speech_end, timing.stt_final) if t is not None and now - t <= seconds]
        return cls.after(recent[0] if recent else now, seconds)

    def cancel(self) -> None:
        self.scope.reschedule(None)
