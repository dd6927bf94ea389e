"""The only ORM functions the live engine calls. All async; each is one short transaction."""

from __future__ import annotations

from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from calls.config import call_config
from calls.models import Call, CallEvent, Turn
from streaming.providers.config import CallConfig


@dataclass(frozen=True)
class LiveCall:
    """What the engine needs to run a call."""

    id: int
    call_uuid: str
    config: CallConfig
    caller_number: str
    previous_summary: str
    history: tuple[tuple[str, str], ...] = ()  # (role, text) of turns stored before a reconnect
    next_sequence: int = 0
    reconnect: bool = False


class CallNotLive(Exception):
    """The stream belongs to an unknown call or one that already ended."""


def _start_stream(call_uuid: str, stream_id: str) -> LiveCall:
    call = Call.objects.filter(call_uuid=call_uuid).first()
    if call is None or call.is_finished or not call.agent_snapshot:
        raise CallNotLive(f"call {call_uuid} is unknown, has ended or has no agent")
    Call.objects.filter(pk=call.pk).update(
        stream_id=stream_id[:64],
        stream_started_at=call.stream_started_at or timezone.now(),
        stream_ended_at=None,
        heartbeat_at=timezone.now(),
    )
    turns = list(call.turns.order_by("sequence").values_list("role", "text", "heard_text", "interrupted", "sequence"))
    history = tuple((role, heard if interrupted else text) for role, text, heard, interrupted, _ in turns)
    caller = call.to_number if call.direction == Call.Direction.OUTBOUND else call.from_number
    return LiveCall(
        call.pk,
        call.call_uuid,
        call_config(call.agent_snapshot),
        caller,
        _previous_summary(call),
        history,
        turns[-1][4] if turns else 0,
        reconnect=call.stream_started_at is not None,
    )


def _previous_summary(call: Call) -> str:
    caller = call.to_number if call.direction == Call.Direction.OUTBOUND else call.from_number
    earlier = (
        Call.objects.filter(agent_id=call.agent_id, created_at__lt=call.created_at)
        .filter(from_number=caller)
        .exclude(summary="")
        .order_by("-created_at")
        .values_list("summary", flat=True)
        .first()
    )
    return earlier or ""


def _check_live(call_uuid: str) -> None:
    call = Call.objects.filter(call_uuid=call_uuid).only("status", "stream_ended_at", "agent_snapshot").first()
    if call is None or call.is_finished or not call.agent_snapshot:
        raise CallNotLive(f"call {call_uuid} is unknown, has ended or has no agent")


def _save_turn(call_id: int, sequence: int, role: str, text: str, **fields) -> None:
    Turn.objects.update_or_create(call_id=call_id, sequence=sequence, defaults={"role": role, "text": text, **fields})


def _add_event(call_id: int, kind: str, data: dict) -> None:
    CallEvent.objects.create(call_id=call_id, kind=kind, data=data)


def _merge_metrics(call_id: int, metrics: dict) -> None:
    call = Call.objects.only("metrics").get(pk=call_id)
    Call.objects.filter(pk=call_id).update(metrics={**call.metrics, **metrics})


def _add_error_note(call_id: int, note: str) -> None:
    """Append ``note`` to the call's error notes (shown on the call page) unless it is there already."""
    with transaction.atomic():
        call = Call.objects.select_for_update().only("error_notes").get(pk=call_id)
        if note not in call.error_notes.splitlines():
            call.add_error_note(note)
            call.save(update_fields=["error_notes"])


def _heartbeat(call_id: int) -> None:
    Call.objects.filter(pk=call_id, stream_ended_at__isnull=True).update(heartbeat_at=timezone.now())


def _end_stream(call_id: int, stream_id: str, recording_path: str, stream_metrics: dict | None = None) -> None:
    """Close the call's stream, unless a newer stream of the same call has taken over."""
    call = Call.objects.only("metrics", "stream_id").get(pk=call_id)
    updates: dict = {"metrics": {**call.metrics, "stream": stream_metrics}} if stream_metrics else {}
    if recording_path:
        updates["recording_path"] = recording_path
    if call.stream_id == stream_id[:64]:
        updates["stream_ended_at"] = timezone.now()
    if updates:
        Call.objects.filter(pk=call_id).update(**updates)


start_stream = database_sync_to_async(_start_stream)
check_live = database_sync_to_async(_check_live)
save_turn = database_sync_to_async(_save_turn)
add_event = database_sync_to_async(_add_event)
merge_metrics = database_sync_to_async(_merge_metrics)
end_stream = database_sync_to_async(_end_stream)
heartbeat = database_sync_to_async(_heartbeat)
add_error_note = database_sync_to_async(_add_error_note)
