"""Listen mode on Plivo's side: people answer, we only listen.

The answer XML (``listen_answer``, called by the answer webhook for a number in listen mode) starts a one-way
stream of both tracks (``inbound`` = the caller, ``outbound`` = the person) and dials the number's targets: E.164
numbers as ``<Number>``, ``sip:`` URIs as ``<User>``, all ringing at once. The Dial's action URL (``dial_action``)
hangs up after a call the person took, or, when nobody answered, says the number's voicemail message first (if so
configured). The number's listen settings are copied into the call's snapshot (``"listen"``) at answer time, so a
number edited mid-call changes nothing of that call.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods
from plivo import plivoxml

from agents.models import PhoneNumber
from calls.models import Call, CallEvent
from calls.plivo.answer_xml import listen_response
from calls.plivo.http import missing, plivo_params, websocket_url, xml
from calls.plivo.params import SPEAK_LANGUAGES, caller_id, refused
from calls.plivo.signatures import plivo_signed, site_base
from calls.plivo.tokens import make_stream_token, stream_path

log = logging.getLogger(__name__)

MODE = "listen"
DIAL_EVENT = "listen-dial"
ANSWERED = "completed"  # DialStatus of a call the person took (and that is now over)


def dial_targets(raw: str) -> list[str]:
    """The comma-separated ``listen_dial`` value as a list (blanks dropped)."""
    return [part.strip() for part in (raw or "").split(",") if part.strip()]


def listen_settings(number: PhoneNumber) -> dict:
    """What the call keeps of its number's listen settings (the snapshot's ``"listen"`` key)."""
    return {
        "dial": dial_targets(number.listen_dial),
        "caller_id": number.listen_caller_id,
        "timeout_seconds": number.listen_timeout_seconds,
        "no_answer": number.listen_no_answer,
        "voicemail_message": number.listen_voicemail_message,
        "alert_phrases": number.alert_phrase_list,
    }


def takes_listen_mode(number: PhoneNumber | None, call: Call) -> bool:
    """People answer this call: a number in listen mode, called by a caller (our own outbound calls never are)."""
    return bool(number and number.mode == PhoneNumber.Mode.LISTEN and call.direction == Call.Direction.INBOUND)


def become_listen_call(call: Call, number: PhoneNumber) -> None:
    """Mark ``call`` (saved by the caller) as a listen-mode call with its number's settings."""
    call.mode = MODE
    call.agent_snapshot = {**call.agent_snapshot, "listen": listen_settings(number)}


def shown_caller_id(call: Call, settings: dict) -> str:
    """The configured caller ID, else the caller's own number (ours when theirs is not a phone number)."""
    return str(settings.get("caller_id") or "") or caller_id(call)


def listen_answer(request: HttpRequest, call: Call) -> HttpResponse:
    """The answer XML of a listen-mode call (``become_listen_call`` ran first)."""
    settings = call.agent_snapshot.get("listen") or {}
    targets = [str(t) for t in settings.get("dial") or []]
    if not targets:  # the admin refuses this; a number edited in the database may still have it
        log.warning("Call %s: listen number %s has nobody to connect to", call.call_uuid, call.to_number)
        call.add_error_note("Listen mode: the number has nobody to connect to.")
        call.save(update_fields=["error_notes"])
        return xml(no_answer_response(call))
    base = site_base(request)
    stream_url = websocket_url(request, stream_path(make_stream_token(call.call_uuid)))
    document = listen_response(
        stream_url,
        base + reverse("plivo-stream-status"),
        targets,
        dial_action_url=base + reverse("plivo-listen-dial-action"),
        timeout=int(settings.get("timeout_seconds") or 30),
        caller_id=shown_caller_id(call, settings),
    )
    return xml(document)


def no_answer_response(call: Call) -> str:
    """Nobody took the call: the voicemail message (when configured) and hang up."""
    settings = call.agent_snapshot.get("listen") or {}
    response = plivoxml.ResponseElement()
    message = str(settings.get("voicemail_message") or "").strip()
    if settings.get("no_answer") == PhoneNumber.NoAnswer.VOICEMAIL and message:
        language = str(call.agent_snapshot.get("language") or "")
        if language in SPEAK_LANGUAGES:
            response.add_speak(message, language=language)
        else:
            response.add_speak(message)
    response.add_hangup()
    return response.to_string()


@csrf_exempt
@require_http_methods(["GET", "POST"])
@plivo_signed
def dial_action(request: HttpRequest) -> HttpResponse:
    """After the Dial of a listen-mode call: hang up after a taken call; the no-answer path otherwise."""
    params = plivo_params(request)
    if error := missing(params, "CallUUID") or refused(params):
        return error
    hangup = plivoxml.ResponseElement().add_hangup().to_string()
    call = Call.objects.filter(call_uuid=params["CallUUID"]).first()
    if call is None or call.is_finished:
        return xml(hangup)
    status = (params.get("DialStatus") or "failed").strip().lower()[:40]
    cause = params.get("DialHangupCause", "")[:100]
    CallEvent.objects.create(call=call, kind=DIAL_EVENT, data={"status": status, **({"cause": cause} if cause else {})})
    if status == ANSWERED:
        return xml(hangup)
    log.info("Call %s: nobody answered the listen-mode dial (%s)", call.call_uuid, status)
    return xml(no_answer_response(call))
