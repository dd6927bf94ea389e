"""Transfers to a person, on Plivo's side: the transfer URL dials the destination, the whisper URL tells the person
who answers what the call is about, and the Dial action URL brings the caller back to the agent (a new stream) when
nobody took the call.

The call reaches ``/plivo/transfer/?to=<destination name>`` through the REST API (streaming/call_control.py): its
XML is ``<Dial action=… callerId=… timeout=…>`` with ``<Number>`` (or ``<User>`` for a SIP URI); a warm transfer adds
``confirmSound`` (our whisper URL: ``<Speak>`` of the summary) and ``confirmKey`` (the person presses 1 to take the
call, so that a voicemail greeting never takes it). The Dial action: ``completed`` → hang up; anything else → the
agent's stream again, and the engine says so (calls/transfers.py).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from plivo import plivoxml

from calls import transfers
from calls.config import call_config
from calls.models import Call, CallEvent
from calls.plivo.answer_xml import decline_response, stream_response
from calls.plivo.http import missing, plivo_params, websocket_url, xml
from calls.plivo.params import SPEAK_LANGUAGES, caller_id, refused
from calls.plivo.signatures import plivo_signed, site_base
from calls.plivo.tokens import make_stream_token, stream_path

log = logging.getLogger(__name__)

RING_SECONDS = 30  # how long the person's phone rings before the caller comes back to the agent
CONFIRM_KEY = "1"
WHISPER_SALT = "calls.transfer-whisper"
WHISPER_MAX_AGE = 3600
NOBODY = "Sorry, nobody is available to take your call. Goodbye."


def whisper_token(call_uuid: str) -> str:
    return signing.TimestampSigner(salt=WHISPER_SALT).sign(call_uuid)


def whisper_call_uuid(token: str) -> str | None:
    try:
        return signing.TimestampSigner(salt=WHISPER_SALT).unsign(token, max_age=WHISPER_MAX_AGE)
    except signing.BadSignature:
        return None


def dial_response(request: HttpRequest, call: Call, target: transfers.Target) -> str:
    base = site_base(request)
    action = base + reverse("plivo-transfer-dial-action") + "?" + urlencode({"to": target.name})
    options: dict[str, object] = {"action": action, "method": "POST", "timeout": RING_SECONDS}
    if shown := caller_id(call):
        options["caller_id"] = shown
    if target.warm:
        whisper = base + reverse("plivo-transfer-whisper", args=[whisper_token(call.call_uuid)])
        options.update(confirm_sound=whisper, confirm_key=CONFIRM_KEY)
    dial = plivoxml.DialElement(**options)
    if target.is_sip:
        dial.add_user(target.destination)
    else:
        dial.add_number(target.destination)
    response = plivoxml.ResponseElement()
    response.add(dial)
    return response.to_string()


def event(call: Call, target: transfers.Target | None, name: str, status: str, **extra: object) -> None:
    data = {"destination": target.name if target else name, "number": target.destination if target else ""}
    CallEvent.objects.create(call=call, kind=transfers.KIND, data={**data, "status": status, **extra})


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def transfer(request: HttpRequest) -> HttpResponse:
    """The aleg_url of a transfer: dial the destination named by ``?to=`` (the agent's transfer number without)."""
    params = plivo_params(request)
    if error := missing(params, "CallUUID") or refused(params):
        return error
    call = Call.objects.filter(call_uuid=params["CallUUID"]).first()
    name = request.GET.get("to", "")
    target = transfers.resolve(call_config(call.agent_snapshot), name) if call and call.agent_snapshot else None
    if call is None or target is None:
        if call is not None:
            event(call, None, name, "no-destination")
        return xml(decline_response(NOBODY))
    event(call, target, name, "dialing", warm=target.warm)
    return xml(dial_response(request, call, target))


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def whisper(request: HttpRequest, token: str) -> HttpResponse:
    """confirmSound of a warm transfer: what the person who answers hears before the caller is connected."""
    call_uuid = whisper_call_uuid(token)
    call = Call.objects.filter(call_uuid=call_uuid).first() if call_uuid else None
    if call is None:
        return HttpResponse("Unknown or expired transfer.", status=404, content_type="text/plain")
    config = call_config(call.agent_snapshot)
    summary = transfers.requested_summary(call) or transfers.for_language(transfers.WHISPER_DEFAULT, config.language)
    text = f"{summary} {transfers.for_language(transfers.WHISPER_ACCEPT, config.language)}"
    response = plivoxml.ResponseElement()
    if config.language in SPEAK_LANGUAGES:
        response.add_speak(text, language=config.language)
    else:
        response.add_speak(text)
    return xml(response.to_string())


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def dial_action(request: HttpRequest) -> HttpResponse:
    """After the Dial: the person took the call and it is over (hang up), or nobody did (back to the agent)."""
    params = plivo_params(request)
    if error := missing(params, "CallUUID") or refused(params):
        return error
    call = Call.objects.filter(call_uuid=params["CallUUID"]).first()
    if call is None or call.is_finished:
        return xml(plivoxml.ResponseElement().add_hangup().to_string())
    status = (params.get("DialStatus") or "failed").lower()
    name = request.GET.get("to", "")
    target = transfers.resolve(call_config(call.agent_snapshot), name) if call.agent_snapshot else None
    cause = params.get("DialHangupCause", "")
    event(call, target, name, status, **({"cause": cause} if cause else {}))
    if status not in transfers.CAME_BACK:
        return xml(plivoxml.ResponseElement().add_hangup().to_string())
    log.info("Call %s: transfer to %s ended %s; back to the agent", call.call_uuid, name or "default", status)
    stream_url = websocket_url(request, stream_path(make_stream_token(call.call_uuid)))
    return xml(stream_response(stream_url, site_base(request) + reverse("plivo-stream-status")))
