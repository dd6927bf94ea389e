"""What-if experiments: the production ASGI app with proposed engine fixes patched in at import (bench only).

The engine code is not changed; ``python bench/calls.py --what-if skip-frame-db-hop`` serves
``bench.whatif:application`` with env BENCH_WHATIF naming the patches, to measure a fix before anyone makes it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

WANTED = [n.strip() for n in os.environ.get("BENCH_WHATIF", "").split(",") if n.strip()]


def pooled_db_connections() -> None:
    """Under ASGI each HTTP request (answer, stream status, hangup) runs in a new thread, which opens its own
    PostgreSQL connection (CONN_MAX_AGE=60 from voiceproject/env.py never reuses it: the thread exits): a new
    backend per webhook, and a burst of connections when many calls start at once. Django ≥ 5.1 can pool them
    (``OPTIONS["pool"]``, psycopg-pool; requires CONN_MAX_AGE=0). Applied before settings load."""
    from voiceproject import env

    original = env.database_from_url

    def database_from_url(url: str) -> dict:
        config = original(url)
        if config["ENGINE"].endswith("postgresql"):
            config["CONN_MAX_AGE"] = 0
            config["OPTIONS"] = {"pool": {"min_size": 4, "max_size": 16, "timeout": 10}}
        return config

    env.database_from_url = database_from_url


if "db-pool" in WANTED:
    pooled_db_connections()

from voiceproject.asgi import application  # noqa: E402, F401  (sets Django up; served by daphne/uvicorn)


def skip_frame_db_hop() -> None:
    """Channels ≥ 4.2 runs ``close_old_connections`` in the one thread-sensitive executor before *every* message
    a consumer handles (``AsyncConsumer.dispatch`` → ``aclose_old_connections``): 50 thread hops per second per
    call. The Plivo consumer's ``receive`` uses no ORM, so skip that hop for ``websocket.receive``."""
    from channels.generic.websocket import AsyncWebsocketConsumer

    from streaming.consumers import PlivoStreamConsumer

    async def dispatch(self: PlivoStreamConsumer, message: dict) -> None:
        if message.get("type") == "websocket.receive":
            await self.websocket_receive(message)
            return
        await AsyncWebsocketConsumer.dispatch(self, message)

    PlivoStreamConsumer.dispatch = dispatch


def cached_scripted_tone() -> None:
    """The scripted TTS computes its tone in pure Python per sentence (~2.4 ms per second of audio, on the event
    loop): cache it per text, as a real TTS costs the server nothing but I/O."""
    import functools

    from tests.fakes.scripted import ScriptedTTS

    ScriptedTTS.audio_for = functools.lru_cache(maxsize=256)(ScriptedTTS.audio_for)


def db_threads() -> None:
    """``calls.records`` wraps every ORM call in ``sync_to_async`` (thread_sensitive=True): outside a sync context
    that is asgiref's one global executor thread, so every call's DB work (start_stream on the ``start`` frame,
    turns, events, end_stream) queues behind every other call's. Run them in the loop's thread pool instead
    (needs pooled connections: use with db-pool)."""
    from channels.db import database_sync_to_async

    from calls import records

    if hasattr(records, "db_executor"):  # the engine does this itself now (DB_WRITE_THREADS): nothing to patch
        return
    for name in ("start_stream", "check_live", "save_turn", "add_event", "merge_metrics", "end_stream"):
        setattr(records, name, database_sync_to_async(getattr(records, f"_{name}"), thread_sensitive=False))


def count_queries() -> None:
    """Not a fix: count the SQL statements the server runs (by kind and thread), into env BENCH_QUERY_LOG."""
    import collections
    import json
    import re
    import threading

    from django.db.backends.signals import connection_created

    counts: collections.Counter = collections.Counter()
    lock = threading.Lock()
    path = os.environ.get("BENCH_QUERY_LOG", "queries.json")

    def wrapper(execute: Callable, sql: str, params: object, many: bool, context: dict) -> object:
        kind = re.sub(r"\s+", " ", str(sql))[:90]
        thread = "engine" if threading.current_thread().name == "ThreadPoolExecutor-0_0" else "other"
        with lock:
            counts[f"{thread}: {kind}"] += 1
            if counts.total() % 100 == 0:
                with open(path, "w") as out:
                    json.dump(counts.most_common(), out, indent=1)
        return execute(sql, params, many, context)

    connection_created.connect(lambda sender, connection, **_: connection.execute_wrappers.append(wrapper), weak=False)


def gc_log() -> None:
    """Not a fix: log every garbage collection that held the GIL for more than 10 ms (generation, ms, objects)."""
    import gc
    import logging
    import time

    log, started = logging.getLogger("bench.gc"), [0.0]

    def timed(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif (ms := (time.perf_counter() - started[0]) * 1000) > 10:
            log.warning("GC gen%d took %.0f ms (collected %d)", info["generation"], ms, info["collected"])

    gc.callbacks.append(timed)


def gc_freeze() -> None:
    """Everything imported at start (Django, the SDKs, the app: most of the heap) moved to the permanent generation,
    so that full collections stop walking it while calls run."""
    import gc

    gc.collect()
    gc.freeze()


def lag_log() -> None:
    """Not a fix: log every caller frame processed more than 100 ms (env BENCH_LAG_MS) after Plivo's timestamp, with
    its index in the call (is the inbound lag a call-start stall, or spread over the call?)."""
    import logging
    import time

    from streaming.inbound import InboundStats

    log, original = logging.getLogger("bench.lag"), InboundStats.processed
    threshold = float(os.environ.get("BENCH_LAG_MS", "100"))

    def processed(self: InboundStats) -> None:
        if self._pending and (lag := time.time() * 1000 - self._pending[0]) > threshold:
            log.warning("LAG frame %d %.0f ms", self._measured, lag)
        original(self)

    InboundStats.processed = processed  # type: ignore[method-assign]


def gc_census() -> None:
    """Not a fix: keep what the cyclic collector finds (DEBUG_SAVEALL) and every 15 s write a census of it by type,
    and the shortest cycles through a call's main objects, into env BENCH_GC_CENSUS + ``-<pid>.json``: what do
    finished calls leave in reference cycles? (Before streaming/cancelled_tasks.py and weak_callbacks.py: ~500
    objects per call, the runner and all its parts among them.)"""
    import collections
    import gc
    import json
    import threading
    import time

    from bench.gc_cycles import cycles_through, name

    path = os.environ.get("BENCH_GC_CENSUS", "gc-census") + f"-{os.getpid()}.json"
    totals: collections.Counter = collections.Counter()
    cycles: dict[str, list[str]] = {}
    gc.set_debug(gc.DEBUG_SAVEALL)

    def census() -> None:
        while True:
            time.sleep(15)
            gc.collect()
            garbage, gc.garbage[:] = list(gc.garbage), []
            totals.update(name(obj) for obj in garbage)
            for target in ("CallRunner", "PlivoStreamConsumer", "Speaker", "Listener", "Player"):
                if (root := next((o for o in garbage if type(o).__name__ == target), None)) is not None:
                    cycles[target] = cycles_through(root, garbage)
            del garbage, root
            with open(path, "w") as out:
                report = {"total": totals.total(), "cycles": cycles, "by_type": totals.most_common(150)}
                json.dump(report, out, indent=1)

    threading.Thread(target=census, name="gc-census", daemon=True).start()


def gil_1ms() -> None:
    """The GIL handed over after 1 ms instead of 5: the event loop waits less behind the Azure SDK's native threads
    calling back into Python (recognition events, synthesized chunks)."""
    import sys

    sys.setswitchinterval(0.001)


PATCHES: dict[str, Callable[[], None]] = {
    "gil-1ms": gil_1ms,
    "gc-census": gc_census,
    "lag-log": lag_log,
    "gc-log": gc_log,
    "gc-freeze": gc_freeze,
    "count-queries": count_queries,
    "db-pool": lambda: None,  # applied above, before settings load
    "skip-frame-db-hop": skip_frame_db_hop,
    "db-threads": db_threads,
    "cached-scripted-tone": cached_scripted_tone,
}

for _name in WANTED:
    PATCHES[_name]()
