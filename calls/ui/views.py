"""The call browser: list, detail, live page and the operator's hang-up button."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from calls.config import call_config
from calls.export import format_offset
from calls.live_control import send_control
from calls.models import Call, CallEvent
from calls.ui.access import calls_viewer_required, can_hang_up
from calls.ui.charts import waterfall_chart
from calls.ui.display import analysis_state, call_state, duration_ms, duration_s
from calls.ui.filters import CallFilterForm, filter_calls
from calls.ui.live_state import last_event_id, state_data
from calls.ui.recordings import recording_file
from calls.ui.timeline import latency_rows, timeline
from streaming.providers.effective import effective

PAGE_SIZE = 25


@calls_viewer_required
def call_list(request: HttpRequest) -> HttpResponse:
    form = CallFilterForm(request.GET)
    page = Paginator(filter_calls(form), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "calls/list.html", {"form": form, "page": page, "calls": page.object_list})


def extracted_fields(call: Call) -> list[tuple[str, str, object]]:
    """(name, type, value) for every declared field, then any extra keys the data holds."""
    declared = call_config(call.agent_snapshot).extraction_fields
    rows = [(f.name, f.type, call.extracted_data.get(f.name)) for f in declared]
    known = {name for name, _, _ in rows}
    rows += [(name, "", value) for name, value in call.extracted_data.items() if name not in known]
    return rows


METRIC_LABELS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("duration_s", "Duration", duration_s),
    ("caller_talk_ms", "Caller talk time", duration_ms),
    ("agent_talk_ms", "Agent talk time", duration_ms),
    ("interruptions", "Interruptions", str),
    ("v2v_count", "Replies measured", str),
    ("v2v_p50_ms", "Voice-to-voice p50", duration_ms),
    ("v2v_p95_ms", "Voice-to-voice p95", duration_ms),
    ("greeting_ms", "Greeting latency", duration_ms),
]


def metric_rows(metrics: dict) -> list[tuple[str, str]]:
    """Readable (label, value) pairs of the aggregates a call has (one unit rule: ms under 10 s, then s)."""
    return [(label, show(metrics[key])) for key, label, show in METRIC_LABELS if metrics.get(key) is not None]


def offline_analysis(snapshot: dict) -> bool:
    """Whether the call's agent settings get the offline (extractive) analysis with today's keys."""
    llm = str((snapshot or {}).get("llm_provider") or "auto")
    return effective("auto", llm, "auto").analysis_offline


def neighbours(call: Call) -> tuple[Call | None, Call | None]:
    """The previous (older) and next (newer) call in the list's order."""
    calls = Call.objects.only("pk", "created_at", "from_number", "to_number")
    older = calls.filter(created_at__lt=call.created_at) | calls.filter(created_at=call.created_at, pk__lt=call.pk)
    newer = calls.filter(created_at__gt=call.created_at) | calls.filter(created_at=call.created_at, pk__gt=call.pk)
    return older.order_by("-created_at", "-pk").first(), newer.order_by("created_at", "pk").first()


@calls_viewer_required
def call_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call.objects.select_related("agent", "phone_number"), pk=pk)
    previous, following = neighbours(call)
    context = {
        "call": call,
        "state": call_state(call),
        "analysis": analysis_state(call),
        "offline_summary": offline_analysis(call.agent_snapshot),
        "previous": previous,
        "next": following,
        "items": timeline(call),
        "waterfall": waterfall_chart(latency_rows(call)),
        "fields": extracted_fields(call),
        "metrics": metric_rows(call.metrics),
        "has_recording": recording_file(call) is not None,
        "config_json": json.dumps(call.agent_snapshot, indent=2, sort_keys=True, ensure_ascii=False),
    }
    return render(request, "calls/detail.html", context)


@calls_viewer_required
def live_call(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call.objects.select_related("agent"), pk=pk)
    turns = [(turn, format_offset(turn.start_ms)) for turn in call.turns.order_by("sequence")]
    context = {
        "call": call,
        "turns": turns,
        "can_hang_up": can_hang_up(request.user),
        "state": state_data(call),
        "last_event_id": last_event_id(call),
    }
    return render(request, "calls/live.html", context)


@require_POST
@calls_viewer_required
def hangup_call(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask the server process holding the call's socket to hang up (through the channel layer)."""
    if not can_hang_up(request.user):
        raise PermissionDenied("You may not hang up calls.")
    call = get_object_or_404(Call, pk=pk)
    if not call.is_live:
        messages.info(request, "This call has already ended.")
        return redirect("call-detail", pk=call.pk)
    if not async_to_sync(send_control)(call.call_uuid, "hangup"):
        messages.error(request, "Could not reach the server holding this call (the channel layer is down). Try again.")
        return redirect("call-live", pk=call.pk)
    CallEvent.objects.create(call=call, kind="hangup-requested", data={"by": request.user.get_username()})
    messages.success(request, "Hang-up requested.")
    return redirect("call-live", pk=call.pk)
