"""Memory of returning callers (per agent, when its memory is on): earlier calls' summaries and the notes the
agent kept (``remember``), for the prompt of the next call with the same number; erased on the operator's request.

The number is the caller's on inbound calls and the callee's on outbound ones (``memory_number``).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from agents.memory import CallerNote
from calls.models import Call
from calls.records import on_db_threads

MAX_NOTES = 20  # the newest notes that go into the prompt
SUMMARY_CHARS = 600
NOTE_CHARS = 500
ANONYMOUS = {"", "anonymous", "unknown", "restricted", "private"}


def memory_number(call: Call) -> str:
    """The other party's number: who the memory is about."""
    return call.to_number if call.direction == Call.Direction.OUTBOUND else call.from_number


def remembered(number: str) -> bool:
    """Whether calls from ``number`` can be told apart from other callers' (a withheld number cannot)."""
    return number.strip().lower() not in ANONYMOUS


def calls_with(agent_id: int, number: str) -> QuerySet[Call]:
    """Every call of the agent with this caller (inbound from it, outbound to it)."""
    inbound = Q(direction=Call.Direction.INBOUND, from_number=number)
    outbound = Q(direction=Call.Direction.OUTBOUND, to_number=number)
    return Call.objects.filter(inbound | outbound, agent_id=agent_id)


def notes_of(agent_id: int, number: str) -> QuerySet[CallerNote]:
    return CallerNote.objects.filter(agent_id=agent_id, number=number).order_by("-created_at", "-pk")


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def memory_lines(agent_id: int, number: str, depth: int) -> list[str]:
    """The last ``depth`` summaries of earlier calls with that caller still in memory (newest first, with their
    dates), then the caller's notes (newest first). Sync: call it off the event loop."""
    if not remembered(number) or depth <= 0:
        return []
    calls = (
        calls_with(agent_id, number)
        .filter(in_memory=True)
        .exclude(summary="")
        .order_by("-created_at", "-pk")
        .values_list("created_at", "summary")[:depth]
    )
    lines = [f"Call on {created:%Y-%m-%d}: {clip(summary, SUMMARY_CHARS)}" for created, summary in calls]
    notes = notes_of(agent_id, number).values_list("created_at", "text")[:MAX_NOTES]
    lines += [f"Note from {created:%Y-%m-%d}: {clip(text, NOTE_CHARS)}" for created, text in notes]
    return lines


def _remember(agent_id: int, number: str, text: str, call_uuid: str) -> None:
    text = clip(text, NOTE_CHARS)
    if text and remembered(number):
        CallerNote.objects.create(agent_id=agent_id, number=number, text=text, call_uuid=call_uuid)


def _recall(agent_id: int, number: str) -> list[str]:
    if not remembered(number):
        return []
    notes = notes_of(agent_id, number).values_list("created_at", "text")[:MAX_NOTES]
    return [f"{created:%Y-%m-%d}: {text}" for created, text in notes]


remember = on_db_threads(_remember)
remember.__doc__ = "Keep a note about the caller (the ``remember`` tool); an empty note or a withheld number: none."
recall = on_db_threads(_recall)
recall.__doc__ = "The caller's notes, newest first, with their dates (the ``recall`` tool)."


def erase_memory(agent_id: int, number: str) -> tuple[int, int]:
    """Forget the caller: delete the notes, take the calls out of memory. (notes deleted, calls forgotten)."""
    deleted, _ = notes_of(agent_id, number).delete()
    forgotten = calls_with(agent_id, number).filter(in_memory=True).update(in_memory=False)
    return deleted, forgotten
