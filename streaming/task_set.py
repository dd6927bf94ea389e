"""The asyncio tasks of one call: started guarded, cancelled or awaited together (structured concurrency)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """A failing task is logged with the call's id and never raised into the event loop; ``on_error`` (if given)
    hears of it, so that the call can end instead of running on without a part."""

    def __init__(self, call_uuid: str, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._call_uuid = call_uuid
        self._on_error = on_error
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guard(self, coro: Coroutine[Any, Any, Any]) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("Call %s: a task failed", self._call_uuid)
            if self._on_error is not None:
                self._on_error(exc)

    def pending(self) -> list[asyncio.Task]:
        """Every task still running except the current one (a task must not cancel or await itself)."""
        current = asyncio.current_task()
        return [task for task in self._tasks if task is not current]

    async def wait(self, timeout: float) -> None:
        if pending := self.pending():
            await asyncio.wait(pending, timeout=timeout)

    async def cancel_all(self) -> None:
        """Cancel every task (but the current one) and wait until each has finished."""
        pending = self.pending()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
