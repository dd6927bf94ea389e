"""Transfers to a person: which destination a name means, what the call's "transfer" events say, and the line the
agent says when a transfer nobody took brings the caller back.

One transfer's events (kind "transfer", in order): ``transferred`` (the engine, with the summary for the person),
``dialing`` (our transfer URL answered Plivo with the Dial), then ``completed`` / ``no-answer`` / ``busy`` /
``failed`` / ``timeout`` / ``cancel`` (the Dial action callback), and ``returned`` once the agent told the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from calls.models import Call, CallEvent
from calls.records import on_db_threads
from streaming.providers.config import CallConfig

DEFAULT = "default"  # the agent's legacy transfer_number
KIND = "transfer"
CAME_BACK = {"no-answer", "busy", "failed", "timeout", "cancel"}  # DialStatus values that return the call

RETURN_LINES = {
    "en": "Sorry, nobody could take your call right now. Can I help you with anything else?",
    "fr": "Désolé, personne n'a pu prendre votre appel pour le moment. Puis-je vous aider pour autre chose ?",
    "de": "Leider konnte gerade niemand Ihren Anruf annehmen. Kann ich Ihnen sonst noch helfen?",
    "es": "Lo siento, ahora mismo nadie ha podido atender su llamada. ¿Puedo ayudarle con algo más?",
    "it": "Mi dispiace, al momento nessuno ha potuto rispondere. Posso aiutarla in qualcos'altro?",
    "pt": "Desculpe, ninguém pôde atender a sua chamada agora. Posso ajudar em mais alguma coisa?",
    "nl": "Sorry, er kon nu niemand uw gesprek aannemen. Kan ik u nog ergens anders mee helpen?",
}
WHISPER_ACCEPT = {
    "en": "Press 1 to take the call.",
    "fr": "Appuyez sur 1 pour prendre l'appel.",
    "de": "Drücken Sie die 1, um den Anruf anzunehmen.",
    "es": "Pulse 1 para atender la llamada.",
    "it": "Premi 1 per rispondere alla chiamata.",
    "pt": "Pressione 1 para atender a chamada.",
    "nl": "Druk op 1 om het gesprek aan te nemen.",
}
WHISPER_DEFAULT = {
    "en": "A caller is being transferred to you by the phone assistant.",
    "fr": "L'assistant téléphonique vous transfère un appel.",
    "de": "Der Telefonassistent verbindet Sie mit einem Anrufer.",
    "es": "El asistente telefónico le transfiere una llamada.",
    "it": "L'assistente telefonico ti sta trasferendo una chiamata.",
    "pt": "O assistente telefónico está a transferir uma chamada para si.",
    "nl": "De telefoonassistent verbindt een beller met u door.",
}


def for_language(lines: dict[str, str], language: str) -> str:
    return lines.get(language.split("-", 1)[0].lower(), lines["en"])


@dataclass(frozen=True)
class Target:
    name: str
    destination: str  # E.164 number or SIP URI
    warm: bool

    @property
    def is_sip(self) -> bool:
        return self.destination.lower().startswith(("sip:", "sips:")) or "@" in self.destination


def resolve(config: CallConfig, name: str) -> Target | None:
    """The destination ``name`` means for this call: a configured destination, or "default" (also "" or the
    transfer number itself, as older engines passed it) for the agent's transfer number; an only destination
    answers to "". None when nothing matches."""
    name = (name or "").strip()
    for destination in config.transfer_destinations:
        if destination.name == name and destination.destination:
            return Target(destination.name, destination.destination, destination.warm)
    number = config.transfer_number
    if number and name in ("", DEFAULT, number):
        return Target(DEFAULT, number, False)
    if not name and len(config.transfer_destinations) == 1 and config.transfer_destinations[0].destination:
        only = config.transfer_destinations[0]
        return Target(only.name, only.destination, only.warm)
    return None


def url(site_url: str, target: Target) -> str:
    """Our transfer URL for ``target`` (the aleg_url of the REST redirect); the agent's number: no query."""
    query = "" if target.name == DEFAULT else "?" + urlencode({"to": target.name})
    return f"{site_url}/plivo/transfer/{query}"


def requested_summary(call: Call) -> str:
    """The summary of the call's latest transfer (the engine's "transferred" event), for the whisper."""
    event = call.events.filter(kind=KIND, data__has_key="summary").order_by("-pk").first()
    return str((event.data or {}).get("summary") or "") if event else ""


def _take_return(call_id: int) -> str:
    """The destination of the call's latest transfer when nobody took it and the caller was not told yet ("" if
    not); records ``returned`` so that a later reconnect does not say it again."""
    event = CallEvent.objects.filter(call_id=call_id, kind=KIND).order_by("-pk").first()
    data = event.data if event and isinstance(event.data, dict) else {}
    if data.get("status") not in CAME_BACK:
        return ""
    destination = str(data.get("destination") or DEFAULT)
    CallEvent.objects.create(call_id=call_id, kind=KIND, data={"destination": destination, "status": "returned"})
    return destination


take_return = on_db_threads(_take_return)


CONNECTED = {"transferred", "dialing", "answer", "in-progress"}  # the caller is (being) put through to a person
WITH_A_PERSON_FOR = timedelta(hours=4)  # a transferred call's stream ends; the call goes on without us this long


def with_a_person(call: Call, now: datetime) -> bool:
    """The call's stream ended because it was transferred and the person's leg has not ended: not an orphan (its
    hang-up callback comes when they hang up), for up to ``WITH_A_PERSON_FOR`` after the stream's end."""
    if call.stream_ended_at is None or now - call.stream_ended_at > WITH_A_PERSON_FOR:
        return False
    latest = CallEvent.objects.filter(call=call, kind=KIND).order_by("-id").values_list("data", flat=True).first()
    return isinstance(latest, dict) and latest.get("status") in CONNECTED
