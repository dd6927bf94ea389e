"""The only ORM functions the live engine calls. All async; each is one statement (or one short transaction).

On PostgreSQL they run on a bounded pool of database threads of their own (``DB_WRITE_THREADS``; reading a call when
its socket connects on ``DB_SETUP_THREADS`` apart), not on asgiref's
one thread-sensitive thread, so a slow write of one call never holds up another call's; each job hands its
connection back (``close_old_connections`` before and after, like Channels' ``database_sync_to_async``). SQLite
(development, tests) writes one statement at a time whatever the threads (its in-memory test database fails a
second writer at once with "table is locked"), so there they keep to asgiref's one thread, as before.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, ParamSpec, TypeVar

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Case, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from calls.config import call_config
from calls.models import FINISHED_STATUSES, Call, CallEvent, Turn
from streaming.providers.config import CallConfig

P = ParamSpec("P")
R = TypeVar("R")
FINISHED = FINISHED_STATUSES
StreamStart = Literal["started", "call-ended", "superseded"]


@dataclass(frozen=True)
class LiveCall:
    """What the engine needs to run a call (``load_call``: one query, when its socket connects)."""

    id: int
    call_uuid: str
    config: CallConfig
    caller_number: str
    previous_summary: str
    history: tuple[tuple[str, str], ...] = ()  # (role, text) of turns stored before a reconnect
    next_sequence: int = 0
    reconnect: bool = False
    stream_id: str = ""  # the call's stream when it was loaded (the one a new stream takes over from)
    answered_by: str = ""  # outbound: "voicemail" when machine detection said so before the stream connected
    outbound: bool = False  # we called them (the agent may press keys: another company's phone menu)
    mode: str = "agent"  # "listen": people talk, the engine only transcribes (streaming/listen/)
    alert_phrases: tuple[str, ...] = ()  # listen mode: the number's alert phrases, lower case


class CallNotLive(Exception):
    """The stream belongs to an unknown call or one that already ended."""


Lane = Literal["write", "setup"]
_executors: dict[Lane, ThreadPoolExecutor] = {}
_executor_lock = threading.Lock()


def db_executor(lane: Lane = "write") -> ThreadPoolExecutor:
    """The process's database threads for the live engine, created on first use: ``DB_WRITE_THREADS`` for what calls
    write, ``DB_SETUP_THREADS`` for reading a call when its socket connects (Plivo waits for the handshake: that
    read never queues behind other calls' writes)."""
    with _executor_lock:
        if lane not in _executors:
            threads = settings.DB_WRITE_THREADS if lane == "write" else settings.DB_SETUP_THREADS
            _executors[lane] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=f"db-{lane}")
        return _executors[lane]


def on_db_threads(func: Callable[P, R], lane: Lane = "write") -> Callable[P, Coroutine[Any, Any, R]]:
    """``func`` as a coroutine function run on ``db_executor(lane)`` (SQLite: asgiref's one thread), its connection
    closed before and after."""

    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if connections["default"].vendor == "sqlite":
            return await DatabaseSyncToAsync(func)(*args, **kwargs)
        return await DatabaseSyncToAsync(func, thread_sensitive=False, executor=db_executor(lane))(*args, **kwargs)

    run.__name__ = run.__qualname__ = func.__name__.lstrip("_")
    run.__doc__ = func.__doc__
    return run


class JsonMerged(models.Func):
    """``field`` with the top-level keys of ``values`` replaced, in the UPDATE itself (no read first)."""

    output_field = models.JSONField()

    def __init__(self, field: str, values: dict[str, Any]) -> None:
        super().__init__(F(field))
        self.values = values

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"(COALESCE({sql}, '{{}}'::jsonb) || %s::jsonb)", (*params, json.dumps(self.values))

    def as_sql(self, compiler, connection, **extra):  # SQLite: json_set replaces each key, shallow like ||
        sql, params = compiler.compile(self.source_expressions[0])
        pairs = ", ".join(["%s, json(%s)"] * len(self.values))
        values = [x for key, value in self.values.items() for x in (f'$."{key}"', json.dumps(value))]
        return f"json_set(COALESCE({sql}, '{{}}'), {pairs})", (*params, *values)


def _load_call(call_uuid: str) -> LiveCall:
    """The call with everything its runner needs, in one query: its snapshot, caller, the summary of the same
    caller's latest earlier call with this agent (a subquery), whether it has streamed before."""
    caller = Case(When(direction=Call.Direction.OUTBOUND, then=F("to_number")), default=F("from_number"))
    earlier = (
        Call.objects.filter(agent_id=OuterRef("agent_id"), created_at__lt=OuterRef("created_at"))
        .filter(from_number=OuterRef("caller"))
        .exclude(summary="")
        .order_by("-created_at")
        .values("summary")[:1]
    )
    row = (
        Call.objects.filter(call_uuid=call_uuid)
        .annotate(caller=caller, previous_summary=Subquery(earlier))
        .values_list(
            "pk",
            "status",
            "agent_snapshot",
            "caller",
            "previous_summary",
            "stream_started_at",
            "stream_id",
            "variables",
            "answered_by",
            "direction",
            "mode",
        )
        .first()
    )
    if row is None or row[1] in FINISHED or not row[2]:
        raise CallNotLive(f"call {call_uuid} is unknown, has ended or has no agent")
    pk, _, snapshot, caller, summary, streamed_at, stream_id, variables, answered_by, direction, mode = row
    listen = snapshot.get("listen") if isinstance(snapshot.get("listen"), dict) else {}
    config = call_config(snapshot, variables)
    return LiveCall(
        pk,
        call_uuid,
        config,
        caller,
        summary or "",
        reconnect=bool(streamed_at),
        stream_id=stream_id,
        answered_by=answered_by,
        outbound=direction == Call.Direction.OUTBOUND,
        mode=mode,
        alert_phrases=tuple(str(p).lower() for p in listen.get("alert_phrases") or () if str(p).strip()),
    )


def _load_history(call: LiveCall) -> LiveCall:
    """A call that has streamed before: its stored turns (the history a reconnect goes on with), one query."""
    turns = list(
        Turn.objects.filter(call_id=call.id)
        .order_by("sequence")
        .values_list("role", "text", "heard_text", "interrupted", "sequence")
    )
    history = tuple((role, heard if interrupted else text) for role, text, heard, interrupted, _ in turns)
    return replace(call, history=history, next_sequence=turns[-1][4] if turns else 0, reconnect=True)


def _answered_by(call_id: int) -> str:
    """What machine detection has recorded for the call so far (``""``, ``human``, ``voicemail``, ``unknown``)."""
    return Call.objects.filter(pk=call_id).values_list("answered_by", flat=True).first() or ""


def _stream_started(call_id: int, stream_id: str, at: datetime, replaces: str = "") -> StreamStart:
    """Record that ``stream_id`` carries the call since ``at``, unless the call has ended or a newer stream was
    recorded meanwhile: only over no stream, itself, the one it ``replaces``, or a stream not newer than ``at``
    (heartbeat_at is a stream's start or its last beat), so that a late write never clobbers a newer stream."""
    stream_id = stream_id[:64]
    older = Q(stream_id__in={"", stream_id, replaces[:64]}) | Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lte=at)
    updated = (
        Call.objects.filter(pk=call_id)
        .exclude(status__in=FINISHED)
        .filter(older)
        .update(
            stream_id=stream_id,
            stream_started_at=Coalesce(F("stream_started_at"), Value(at)),
            stream_ended_at=None,
            heartbeat_at=at,
        )
    )
    if updated:
        return "started"
    return "superseded" if Call.objects.filter(pk=call_id).exclude(status__in=FINISHED).exists() else "call-ended"


def _save_turn(call_id: int, sequence: int, role: str, text: str, **fields: Any) -> None:
    """Insert or update the turn (call, sequence) in one statement (INSERT … ON CONFLICT DO UPDATE); an update
    changes only the fields given, like ``update_or_create``."""
    Turn.objects.bulk_create(
        [Turn(call_id=call_id, sequence=sequence, role=role, text=text, **fields)],
        update_conflicts=True,
        unique_fields=["call", "sequence"],
        update_fields=["role", "text", *fields],
    )


def _save_tool_calls(call_id: int, sequence: int, tool_calls: list[dict[str, Any]]) -> None:
    """Replace the tool calls stored on a turn (a tool's result that came in after the turn was stored)."""
    Turn.objects.filter(call_id=call_id, sequence=sequence).update(tool_calls=tool_calls)


def _add_event(call_id: int, kind: str, data: dict) -> None:
    CallEvent.objects.create(call_id=call_id, kind=kind, data=data)


def _add_error_note(call_id: int, note: str) -> None:
    """Append ``note`` to the call's error notes (shown on the call page) unless it is there already."""
    with transaction.atomic():
        call = Call.objects.select_for_update().only("error_notes").get(pk=call_id)
        if note not in call.error_notes.splitlines():
            call.add_error_note(note)
            call.save(update_fields=["error_notes"])


def _heartbeat(call_id: int, stream_id: str, metrics: dict | None = None) -> None:
    """This process still carries the call's stream (and, with ``metrics``, what it measured so far)."""
    updates: dict[str, Any] = {"heartbeat_at": timezone.now()}
    if metrics:
        updates["metrics"] = JsonMerged("metrics", metrics)
    Call.objects.filter(pk=call_id, stream_id=stream_id[:64], stream_ended_at__isnull=True).update(**updates)


def _end_stream(call_id: int, stream_id: str, recording_path: str, metrics: dict | None = None) -> None:
    """One update: the stream's metrics merged in, its recording, and the stream closed unless a newer stream of
    the same call has taken over."""
    ended = When(stream_id=stream_id[:64], then=Value(timezone.now()))
    updates: dict[str, Any] = {"stream_ended_at": Case(ended, default=F("stream_ended_at"))}
    if metrics:
        updates["metrics"] = JsonMerged("metrics", metrics)
    if recording_path:
        updates["recording_path"] = recording_path
    Call.objects.filter(pk=call_id).update(**updates)


load_call = on_db_threads(_load_call, "setup")
load_history = on_db_threads(_load_history, "setup")
answered_by = on_db_threads(_answered_by, "setup")
stream_started = on_db_threads(_stream_started)
save_turn = on_db_threads(_save_turn)
save_tool_calls = on_db_threads(_save_tool_calls)
add_event = on_db_threads(_add_event)
add_error_note = on_db_threads(_add_error_note)
heartbeat = on_db_threads(_heartbeat)
end_stream = on_db_threads(_end_stream)
