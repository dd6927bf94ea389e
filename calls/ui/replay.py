"""Replay a real call against the published version, the draft or an earlier version, and see the original beside
the new answers, turn by turn; save the call as a scenario."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from agents.versions import AgentVersion
from calls.models import Call
from calls.scenario_models import ScenarioRun
from calls.scenarios import replay, runs
from calls.ui.access import calls_viewer_required


def parse_target(value: str) -> tuple[bool, int | None] | None:
    """ "published" → (False, None), "draft" → (True, None), "version:N" → (False, N); None when unreadable."""
    if value in ("published", "draft"):
        return value == "draft", None
    name, _, number = value.partition(":")
    return (False, int(number)) if name == "version" and number.isdigit() else None


@calls_viewer_required
def replay_call(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(Call.objects.select_related("agent"), pk=pk)
    if request.method == "POST":
        if not request.user.is_staff:
            raise PermissionDenied("Only staff may replay calls or save scenarios.")
        if request.POST.get("action") == "save":
            return save_scenario(request, call)
        return start(request, call)
    versions = AgentVersion.objects.filter(agent=call.agent).order_by("-number")[:50] if call.agent else []
    context = {
        "call": call,
        "versions": versions,
        "replays": call.replays.order_by("-started_at")[:20],
        "caller_turns": replay.caller_turns(call),
        "has_recording": replay.recording_path(call) is not None,
        "drafts": bool(call.agent and call.agent.drafts),
    }
    return render(request, "calls/replay.html", context)


def start(request: HttpRequest, call: Call) -> HttpResponse:
    target = parse_target(request.POST.get("against", "published"))
    if target is None:
        messages.error(request, "Choose what to replay against: the published version, the draft or a version.")
        return redirect("call-replay", call.pk)
    draft, version = target
    try:
        run = replay.start_replay(call, draft=draft, version=version, started_by=request.user)
    except runs.RunError as exc:
        messages.error(request, str(exc))
        return redirect("call-replay", call.pk)
    runs.queue_run(run, request.build_absolute_uri("/").rstrip("/"), version)
    return redirect("call-replay-run", run.pk)


def save_scenario(request: HttpRequest, call: Call) -> HttpResponse:
    name = request.POST.get("name", "").strip() or f"Call {call.pk}"
    try:
        with transaction.atomic():
            scenario = replay.save_as_scenario(call, name, must_say_hints=bool(request.POST.get("hints")))
    except runs.RunError as exc:
        messages.error(request, str(exc))
        return redirect("call-replay", call.pk)
    except IntegrityError:
        messages.error(request, f"{call.agent} already has a scenario named “{name}”: choose another name.")
        return redirect("call-replay", call.pk)
    messages.success(request, f"Saved as scenario “{scenario.name}”.")
    if request.user.has_perm("calls.change_scenario"):
        return redirect(reverse("admin:calls_scenario_change", args=[scenario.pk]))
    return redirect("call-replay", call.pk)


@calls_viewer_required
def replay_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ScenarioRun.objects.select_related("source_call", "agent_version"), pk=pk)
    rows = run.results if run.kind == ScenarioRun.Kind.REPLAY else []
    context = {
        "run": run,
        "rows": rows,
        "changed": sum(not r.get("same") for r in rows),
        "latencies": run.latencies or {},
    }
    return render(request, "calls/replay_run.html", context)
