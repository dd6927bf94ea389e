"""The sweeper inside the server process, for deployments without Celery beat (eager Celery: no REDIS_URL).

With a worker, beat runs ``calls.tasks.sweep_orphaned_calls`` every five minutes. Without one (``make run``),
nothing would, and a call whose hang-up callback never came would stay "in progress" forever. So the ASGI
application (voiceproject/asgi.py) starts this loop on its first request: every ``SWEEPER_INTERVAL_SECONDS`` it runs
the same sweep on a worker thread, one at a time, and never lets a failure reach the server.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)

_task: asyncio.Task | None = None


def wanted() -> bool:
    """Only where no beat runs (eager Celery), and unless turned off (``SWEEPER_INTERVAL_SECONDS=0``)."""
    return bool(settings.CELERY_TASK_ALWAYS_EAGER) and settings.SWEEPER_INTERVAL_SECONDS > 0


def _sweep() -> int:
    from calls.tasks import sweep_orphaned_calls

    close_old_connections()
    try:
        return sweep_orphaned_calls(minutes=settings.ORPHAN_CALL_MINUTES)
    finally:
        close_old_connections()


async def sweep_once() -> int:
    """One sweep on a thread of its own; the number of calls it closed or finalized (0 when it failed)."""
    try:
        return await sync_to_async(_sweep, thread_sensitive=False)()
    except Exception:
        log.exception("In-process sweeper: the sweep failed; trying again next round")
        return 0


async def run(interval: float) -> None:
    """Sweep every ``interval`` seconds, the first one ``interval`` after the start (a server that just started
    has nothing new to sweep, and a process restarted in a loop does not sweep in a loop)."""
    while True:
        await asyncio.sleep(interval)
        await sweep_once()


def start() -> asyncio.Task | None:
    """Start the loop on the running event loop, once per process; None when not wanted or already running."""
    global _task
    if _task is not None and not _task.done():
        return None
    if not wanted():
        return None
    _task = asyncio.get_running_loop().create_task(run(float(settings.SWEEPER_INTERVAL_SECONDS)))
    log.info("In-process sweeper started: every %s s (no Celery beat)", settings.SWEEPER_INTERVAL_SECONDS)
    return _task


def stop() -> None:
    global _task
    if _task is not None:
        _task.cancel()
        _task = None


class StartsSweeper:
    """ASGI middleware: the first request a real server hands over (its scope names the ``server``; test
    communicators' scopes do not) starts the in-process sweeper (daphne has no lifespan events)."""

    def __init__(self, app) -> None:
        self.app = app
        self.started = False

    async def __call__(self, scope, receive, send):
        if not self.started and scope.get("server"):
            self.started = True
            try:
                start()
            except Exception:
                log.exception("In-process sweeper: could not start")
        return await self.app(scope, receive, send)
