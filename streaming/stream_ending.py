"""Ending a call's stream from inside (a part failed, an audio flood), shared by both runners."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Protocol

from calls.records import LiveCall
from streaming import plivo

log = logging.getLogger(__name__)


class CloseSocket(Protocol):
    def __call__(self, code: int | None = None, reason: str | None = None) -> Awaitable[None]: ...


class StreamEnding:
    """``end_stream``: close the socket with a code, then stop the runner — once, whoever asks first."""

    call: LiveCall
    _close_socket: CloseSocket
    _ending: asyncio.Task | None
    _stopping: asyncio.Task | None

    async def stop(self) -> None:
        raise NotImplementedError

    def end_stream(self, code: int, reason: str) -> None:
        """End the call from inside: close the socket with ``code``, then stop."""
        if self._ending is not None or self._stopping is not None:
            return
        log.warning("Call %s: ending the stream with %d: %s", self.call.call_uuid, code, reason)
        self._ending = asyncio.get_running_loop().create_task(self._end(code, reason))

    async def _end(self, code: int, reason: str) -> None:
        try:
            await self._close_socket(code=code, reason=reason)
        finally:
            await self.stop()

    def _task_failed(self, exc: BaseException) -> None:
        self.end_stream(plivo.CLOSE_ERROR, f"internal error ({type(exc).__name__})")
