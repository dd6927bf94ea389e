"""The Plivo webhooks: answer (XML that opens our stream), hangup, stream status (transfers: transfer_webhooks.py)."""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from agents.models import Agent, PhoneNumber
from agents.versioning import call_snapshot
from calls.config import call_config
from calls.memory import memory_lines, memory_number
from calls.models import Call, CallEvent
from calls.plivo import listen_webhooks as listen
from calls.plivo import outbound_webhooks as outbound
from calls.plivo.answer_xml import decline_response, stream_response
from calls.plivo.http import absolute, missing, plivo_params, websocket_url, xml
from calls.plivo.params import call_direction, duration_seconds, refused, stored_number
from calls.plivo.signatures import plivo_signed
from calls.plivo.tokens import make_stream_token, stream_path
from calls.scenarios.prepared import prepared_agent
from streaming.providers.line_prep import prepare_in_background

log = logging.getLogger(__name__)

NOT_IN_SERVICE = "Sorry, this number is not in service. Goodbye."
FAILED_STATUSES = {"busy", "failed", "timeout", "no-answer", "cancel"}


def routed_number(params: dict[str, str]) -> PhoneNumber | None:
    outbound = call_direction(params) == Call.Direction.OUTBOUND
    return PhoneNumber.route(params["From"] if outbound else params["To"])


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def answer(request: HttpRequest) -> HttpResponse:
    params = plivo_params(request)
    if error := missing(params, "CallUUID", "From", "To") or refused(params):
        return error
    log.info("Plivo answer %s", params)
    number = routed_number(params)
    with transaction.atomic():
        outbound.adopt(params, outbound.placed_of(request))  # a call we placed: it takes Plivo's CallUUID
        call, created = Call.objects.select_for_update().get_or_create(
            call_uuid=params["CallUUID"], defaults=call_defaults(params, number)
        )
        if call.is_finished or call.status == Call.Status.NO_AGENT:
            return xml(decline_response(NOT_IN_SERVICE))
        test_agent = prepared_agent(call, created)  # a scenario's or replay's call: its own agent and snapshot
        agent = test_agent or (number.agent if number else None)
        if not test_agent and not (number and number.enabled and agent and agent.enabled):
            call.status = Call.Status.NO_AGENT
            call.add_error_note(no_agent_reason(params, number))
            call.save(update_fields=["status", "error_notes"])
            return xml(decline_response(NOT_IN_SERVICE))
        if created or not call.agent_snapshot:
            assert agent is not None  # refused above when there is none
            draft = bool(number and number.takes_draft)  # a test number runs the agent's draft
            call.agent, (call.agent_snapshot, call.agent_version) = agent, call_snapshot(agent, draft=draft)
            add_memory(call, agent)
        call.variables = outbound.answer_variables(call, params, number)
        outbound.answered_by_at_answer(call)
        call.status = Call.Status.IN_PROGRESS
        call.answered_at = call.answered_at or timezone.now()
        listening = not test_agent and number is not None and listen.takes_listen_mode(number, call)
        if listening and number is not None:
            listen.become_listen_call(call, number)
        call.save()
    if listening:  # people answer; we only listen (calls/plivo/listen_webhooks.py)
        return listen.listen_answer(request, call)
    prepare_lines_soon(call)
    stream_url = websocket_url(request, stream_path(make_stream_token(call.call_uuid)))
    return xml(stream_response(stream_url, absolute(request, reverse("plivo-stream-status"))))


def add_memory(call: Call, agent: Agent) -> None:
    """With the agent's memory on: earlier calls' summaries and notes about this caller go into the snapshot
    (``"memory"``, a list of lines the engine puts into the prompt)."""
    if call.agent_snapshot.get("memory_enabled"):  # the version the call runs (drafts: maybe not the latest)
        lines = memory_lines(agent.pk, memory_number(call), int(call.agent_snapshot.get("memory_depth") or 3))
        call.agent_snapshot = {**call.agent_snapshot, "memory": lines}


def prepare_lines_soon(call: Call) -> None:
    """The first call of an agent version in this process: its fixed lines are synthesized in a background thread
    if the shared store lacks the greeting (the XML never waits for it). Never raises."""
    try:
        prepare_in_background(call_config(call.agent_snapshot))
    except Exception:
        log.exception("Call %s: could not start preparing the agent's lines", call.call_uuid)


def call_defaults(params: dict[str, str], number: PhoneNumber | None) -> dict:
    return {
        "from_number": stored_number(params["From"]),
        "to_number": stored_number(params["To"]),
        "direction": call_direction(params),
        "phone_number": number,
        "status": Call.Status.RINGING,
    }


def no_agent_reason(params: dict[str, str], number: PhoneNumber | None) -> str:
    if number is None:
        dialled = params["From"] if call_direction(params) == Call.Direction.OUTBOUND else params["To"]
        return f"No phone number configured for {dialled}."
    if not number.enabled:
        return f"Phone number {number.number} is disabled."
    return f"Agent {number.agent} is disabled."


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def hangup(request: HttpRequest) -> HttpResponse:
    params = plivo_params(request)
    if error := missing(params, "CallUUID") or refused(params):
        return error
    with transaction.atomic():
        outbound.adopt(params, outbound.placed_of(request))  # a call we placed that nobody answered
        call, _ = Call.objects.select_for_update().get_or_create(
            call_uuid=params["CallUUID"],
            defaults={
                "from_number": stored_number(params.get("From", "")),
                "to_number": stored_number(params.get("To", "")),
                "direction": call_direction(params),
            },
        )
        if call.ended_at is not None:
            return JsonResponse({"status": "already recorded"})
        record_hangup(call, params)
        call_id = call.pk
        transaction.on_commit(lambda: schedule_finalize(call_id))
    return JsonResponse({"status": "recorded"})


def record_hangup(call: Call, params: dict[str, str]) -> None:
    call.ended_at = timezone.now()
    call.hangup_cause = params.get("HangupCause", "")[: Call.hangup_cause.field.max_length]  # raw: hangup_data
    call.hangup_data = params
    if (seconds := duration_seconds(params.get("Duration", ""))) is not None:
        call.duration_seconds = seconds
    if call.status not in (Call.Status.NO_AGENT, Call.Status.REJECTED):
        failed = params.get("CallStatus", "").lower() in FAILED_STATUSES
        call.status = Call.Status.FAILED if failed else Call.Status.COMPLETED
        outbound.record_unanswered(call, params)  # never answered: no-answer, busy, cancelled or failed
    outbound.answered_by_at_hangup(call)
    call.save()


def schedule_finalize(call_id: int) -> None:
    """Queue the after-call work; with the broker down, the sweeper finalizes the call later (never a 500)."""
    from calls.campaigns.outcome import call_ended
    from calls.tasks import finalize_call

    call_ended(call_id)  # a campaign call: its row's outcome at once (frees its slot; never raises)
    try:
        finalize_call.delay(call_id)
    except Exception as exc:
        log.warning("Could not queue finalize_call(%s): %s; the sweeper will finalize it", call_id, type(exc).__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def stream_status(request: HttpRequest) -> HttpResponse:
    params = plivo_params(request)
    if error := missing(params, "CallUUID") or refused(params):
        return error
    call = Call.objects.filter(call_uuid=params["CallUUID"]).first()
    if call is None:
        log.warning("Stream status for unknown call %s: %s", params["CallUUID"], params)
        return JsonResponse({"status": "unknown call"}, status=404)
    CallEvent.objects.create(call=call, kind="stream-status", data=params)
    return JsonResponse({"status": "recorded"})
