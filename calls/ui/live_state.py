"""The live page's state from the server: what the call is doing now, and the events a page may have missed.

``state_message`` is the last message a (re)connecting live page gets: the page shows the call's state, its elapsed
time and the hang-up button from it, never from its own guesses. The same dict is rendered into the page.
"""

from __future__ import annotations

from typing import Any

from calls.models import Call, CallEvent
from calls.ui.display import call_state
from calls.ui.timeline import event_label

SHOWN_EVENTS = ("barge-in", "dtmf", "dtmf-sent", "hangup-requested", "transfer", "error", "tool")
MAX_MISSED_EVENTS = 50


def hangup_requested(call: Call) -> bool:
    return call.events.filter(kind="hangup-requested").exists()


def state_data(call: Call) -> dict[str, Any]:
    """The call's state for the live page: ``live`` decides whether the hang-up button works."""
    state = call_state(call)
    live = call.is_live
    requested = live and hangup_requested(call)
    started = call.stream_started_at or call.answered_at
    ended = call.stream_ended_at or call.ended_at
    return {
        "live": live,
        "state": "hangup-requested" if requested else state.key if live or state.key != "live" else "ended",
        "label": "hang-up requested, waiting for the call to end" if requested else state.label,
        "note": state.note,
        "status": call.status,
        "status_label": call.get_status_display(),
        "started_at": started.isoformat() if started else None,
        "ended_at": ended.isoformat() if ended and not live else None,
    }


def state_message(call_uuid: str) -> dict[str, Any]:
    call = Call.objects.get(call_uuid=call_uuid)
    return {"kind": "state", "data": state_data(call)}


def events_since(call_uuid: str, after_id: int) -> list[dict[str, Any]]:
    """Shown events stored after ``after_id`` (the last one the page rendered), as ``note`` messages."""
    events = CallEvent.objects.filter(call__call_uuid=call_uuid, id__gt=after_id, kind__in=SHOWN_EVENTS)
    return [
        {"kind": "note", "data": {"id": event.pk, "event": event.kind, "text": event_label(event)}}
        for event in events.order_by("id")[:MAX_MISSED_EVENTS]
    ]


def last_event_id(call: Call) -> int:
    return call.events.order_by("-id").values_list("id", flat=True).first() or 0
