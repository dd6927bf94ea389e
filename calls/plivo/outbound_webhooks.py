"""The outbound-only side of Plivo's webhooks: matching a placed call, the ring URL, machine detection, the end of
a call nobody answered, and the variables a call is answered with.

A call placed with ``calls.outbound.place_call`` is stored with a placeholder ``call_uuid`` and, once dialled,
Plivo's ``request_uuid``. Plivo's first webhook for it (ring, answer, or a hang-up when nobody answered) carries
``RequestUUID`` / ``ALegRequestUUID``: ``adopt`` gives the stored call Plivo's real ``CallUUID`` so every handler
finds it by CallUUID from then on.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from agents import templating
from agents.models import PhoneNumber
from calls import live_control
from calls.dialing import DIALLING
from calls.models import Call, CallEvent
from calls.outbound import is_placeholder, placed_call_id
from calls.plivo.http import plivo_params
from calls.plivo.params import call_direction, refused
from calls.plivo.signatures import plivo_signed

log = logging.getLogger(__name__)

NOT_ANSWERED = {  # Plivo's CallStatus of a call that ended before anyone answered → our status
    "no-answer": Call.Status.NO_ANSWER,
    "timeout": Call.Status.NO_ANSWER,
    "busy": Call.Status.BUSY,
    "cancel": Call.Status.CANCELLED,
    "cancelled": Call.Status.CANCELLED,
    "canceled": Call.Status.CANCELLED,
    "failed": Call.Status.FAILED,
}
HEADER_PREFIX = "x-ph-"  # Plivo passes custom SIP headers to the answer URL as X-PH-<name>
MACHINE = "machine"  # the control message that tells the live call a machine answered


def request_uuids(params: dict[str, str]) -> set[str]:
    return {params.get(name, "").strip() for name in ("RequestUUID", "ALegRequestUUID")} - {""}


def placed_of(request: HttpRequest) -> int | None:
    """The id of the call we placed, from the signed ``?placed=`` every callback URL of a dial carries."""
    return placed_call_id(request.GET.get("placed", ""))


def adopt(params: dict[str, str], placed: int | None = None) -> Call | None:
    """Inside a transaction: the queued outbound call these params belong to (by the signed id ``placed`` from the
    callback URL, else by request uuid), given Plivo's CallUUID and request uuid (locked); None when there is none
    (an inbound call, or one this server did not place)."""
    uuids = request_uuids(params)
    call_uuid = params.get("CallUUID", "")
    if not (uuids or placed) or not call_uuid:
        return None
    match = Q(request_uuid__in=uuids) | Q(pk=placed or 0, direction=Call.Direction.OUTBOUND)
    call = Call.objects.select_for_update().filter(match).order_by("-pk").first()
    if call is None or not is_placeholder(call.call_uuid):
        return call
    if Call.objects.filter(call_uuid=call_uuid).exists():
        log.warning("Call %s: CallUUID %s already belongs to another call", call.pk, call_uuid)
        return None
    call.call_uuid = call_uuid
    if uuids and (not call.request_uuid or call.request_uuid.startswith(DIALLING)):  # the dial's answer was lost
        call.request_uuid = sorted(uuids)[0][:128]
    call.save(update_fields=["call_uuid", "request_uuid"])
    return call


def answer_variables(call: Call, params: dict[str, str], number: PhoneNumber | None) -> dict[str, str]:
    """The call's variables when it is answered: the built-in ones (numbers, local date and time), for inbound calls
    the caller's number and the SIP headers Plivo passes (X-PH-Name → name), and what the call was placed with
    (those win)."""
    outbound = call.direction == Call.Direction.OUTBOUND
    customer = call.to_number if outbound else call.from_number
    ours = number.number if number else (call.from_number if outbound else call.to_number)
    variables = templating.call_variables(customer, ours, timezone.localtime())
    if not outbound:
        variables["caller_number"] = customer
        for key, value in params.items():
            name = key[len(HEADER_PREFIX) :].lower().replace("-", "_")
            if key.lower().startswith(HEADER_PREFIX) and templating.valid_name(name):
                variables[name] = value[: templating.MAX_VALUE]
    return variables | dict(call.variables or {})


def record_unanswered(call: Call, params: dict[str, str]) -> None:
    """A call that ended before it was answered: no-answer, busy, cancelled or failed, from Plivo's CallStatus."""
    if call.answered_at is not None or call.status in (Call.Status.NO_AGENT, Call.Status.REJECTED):
        return
    status = NOT_ANSWERED.get(params.get("CallStatus", "").strip().lower())
    if status is not None:
        call.status = status


def answered_by_at_hangup(call: Call) -> None:
    """An answered outbound call whose machine detection never gave a verdict: ``unknown``."""
    if call.direction == Call.Direction.OUTBOUND and call.answered_at is not None and not call.answered_by:
        call.answered_by = Call.AnsweredBy.UNKNOWN


def answered_by_at_answer(call: Call) -> None:
    """Outbound without machine detection: nobody will tell us who answered."""
    if call.direction == Call.Direction.OUTBOUND and not (call.agent_snapshot or {}).get("machine_detection", True):
        call.answered_by = call.answered_by or Call.AnsweredBy.UNKNOWN


def find_call(params: dict[str, str], placed: int | None) -> Call | None:
    """Inside a transaction: the call of these params (by CallUUID, else the placed call, adopting it)."""
    call = Call.objects.select_for_update().filter(call_uuid=params.get("CallUUID", "")).first()
    return call or adopt(params, placed)


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def ring(request: HttpRequest) -> HttpResponse:
    """ring_url of an outbound call: the callee's phone is ringing."""
    params = plivo_params(request)
    if error := refused(params):
        return error
    with transaction.atomic():
        call = find_call(params, placed_of(request))
        if call is None:
            log.warning("Ring for an unknown call: %s", params)
            return JsonResponse({"status": "unknown call"}, status=404)
        if call.status == Call.Status.QUEUED:
            call.status = Call.Status.RINGING
            call.save(update_fields=["status"])
        CallEvent.objects.create(call=call, kind="ringing", data=params)
    return JsonResponse({"status": "recorded"})


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def machine_detection(request: HttpRequest) -> HttpResponse:
    """machine_detection_url (asynchronous): ``Machine`` true → voicemail (the live call leaves the message or
    hangs up), false → human."""
    params = plivo_params(request)
    if error := refused(params):
        return error
    verdict = params.get("Machine", "").strip().lower()
    with transaction.atomic():
        call = find_call(params, placed_of(request))
        if call is None:
            log.warning("Machine detection for an unknown call: %s", params)
            return JsonResponse({"status": "unknown call"}, status=404)
        if verdict in ("true", "false"):
            machine = verdict == "true"
            call.answered_by = Call.AnsweredBy.VOICEMAIL if machine else Call.AnsweredBy.HUMAN
        else:
            call.answered_by = call.answered_by or Call.AnsweredBy.UNKNOWN
        call.save(update_fields=["answered_by"])
        CallEvent.objects.create(call=call, kind="machine-detection", data=params)
        tell = call.answered_by == Call.AnsweredBy.VOICEMAIL and call.is_live
        call_uuid = call.call_uuid
    if tell and not async_to_sync(live_control.send_control)(call_uuid, MACHINE):
        log.warning("Call %s: could not tell the live call that a machine answered", call_uuid)
    return JsonResponse({"status": "recorded", "answered_by": call.answered_by})


def is_outbound(params: dict[str, str]) -> bool:
    return call_direction(params) == Call.Direction.OUTBOUND or bool(request_uuids(params))
