"""Transfers to a person: the exact Dial XML (warm and cold, number and SIP URI), the whisper the person hears, the
Dial action (completed → hang up; no answer → the agent's stream again), the caller hearing the agent come back
on a new stream, and the engine's REST redirect through Plivo's API (the real SDK against the local fake)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from agents.actions import TransferDestination
from calls.models import Call, CallEvent, Turn
from calls.plivo.tokens import read_stream_token
from calls.plivo.transfer_webhooks import whisper_token
from calls.transfers import RETURN_LINES
from tests.factories import make_agent
from tests.plivo_caller import PlivoCaller, answer
from tests.speech import synthesize_ulaw
from tests.test_engine_call import eventually

pytestmark = pytest.mark.django_db(transaction=True)
BACK = RETURN_LINES["en"]
SITE = "http://testserver"
ACTION = f"{SITE}/plivo/transfer/dial-action/"


def agent_with_destinations(**fields):
    agent = make_agent(**fields)
    TransferDestination.objects.create(
        agent=agent, name="sales", destination="+14155550123", description="New orders", warm=True
    )
    TransferDestination.objects.create(agent=agent, name="billing", destination="+14155550124", warm=False)
    TransferDestination.objects.create(agent=agent, name="desk", destination="sip:desk@pbx.example.com", warm=True)
    return agent


def answered(client, call_uuid: str = "uuid-1", **agent_fields) -> Call:
    agent_with_destinations(**agent_fields)
    response = client.post("/plivo/answer/", {"CallUUID": call_uuid, "From": "14155550111", "To": "14155550100"})
    assert response.status_code == 200
    return Call.objects.get(call_uuid=call_uuid)


def transfer_events(call: Call) -> list[dict]:
    return list(call.events.filter(kind="transfer").order_by("pk").values_list("data", flat=True))


def test_warm_transfer_dials_the_number_with_the_whisper_and_the_dial_action(client):
    call = answered(client)
    response = client.post("/plivo/transfer/?to=sales", {"CallUUID": "uuid-1"})
    whisper = f"{SITE}/plivo/transfer/whisper/{whisper_token('uuid-1')}/"
    assert response["Content-Type"] == "application/xml"
    assert response.content.decode() == (
        "<Response>\n"
        f'  <Dial action="{ACTION}?to=sales" method="POST" timeout="30" callerId="+14155550111" '
        f'confirmSound="{whisper}" confirmKey="1">\n'
        "    <Number>+14155550123</Number>\n"
        "  </Dial>\n"
        "</Response>\n"
    )
    assert transfer_events(call) == [
        {"destination": "sales", "number": "+14155550123", "status": "dialing", "warm": True}
    ]


def test_cold_transfer_has_no_whisper_but_still_comes_back(client):
    answered(client)
    response = client.post("/plivo/transfer/?to=billing", {"CallUUID": "uuid-1"})
    assert response.content.decode() == (
        "<Response>\n"
        f'  <Dial action="{ACTION}?to=billing" method="POST" timeout="30" callerId="+14155550111">\n'
        "    <Number>+14155550124</Number>\n"
        "  </Dial>\n"
        "</Response>\n"
    )


def test_a_sip_destination_is_dialled_as_a_user(client):
    answered(client)
    response = client.post("/plivo/transfer/?to=desk", {"CallUUID": "uuid-1"})
    dial = ET.fromstring(response.content).find("Dial")
    assert [(child.tag, child.text) for child in dial] == [("User", "sip:desk@pbx.example.com")]
    assert dial.get("confirmKey") == "1" and "/plivo/transfer/whisper/" in dial.get("confirmSound")


def test_the_legacy_transfer_number_is_the_default_destination(client):
    call = answered(client, transfer_number="+14155550999")
    response = client.post("/plivo/transfer/", {"CallUUID": "uuid-1"})
    assert response.content.decode() == (
        "<Response>\n"
        f'  <Dial action="{ACTION}?to=default" method="POST" timeout="30" callerId="+14155550111">\n'
        "    <Number>+14155550999</Number>\n"
        "  </Dial>\n"
        "</Response>\n"
    )
    assert transfer_events(call) == [
        {"destination": "default", "number": "+14155550999", "status": "dialing", "warm": False}
    ]


def test_an_unknown_destination_declines_politely(client):
    call = answered(client)
    response = client.post("/plivo/transfer/?to=legal", {"CallUUID": "uuid-1"})
    assert b"<Speak>Sorry, nobody is available to take your call. Goodbye.</Speak>" in response.content
    assert transfer_events(call) == [{"destination": "legal", "number": "", "status": "no-destination"}]


def test_on_outbound_calls_the_person_sees_the_agents_number(client):
    agent_with_destinations()
    params = {"CallUUID": "uuid-out", "From": "14155550100", "To": "14155550177", "Direction": "outbound"}
    assert client.post("/plivo/answer/", params).status_code == 200
    response = client.post("/plivo/transfer/?to=billing", {"CallUUID": "uuid-out"})
    assert ET.fromstring(response.content).find("Dial").get("callerId") == "+14155550100"


def test_the_whisper_speaks_the_summary_then_how_to_accept(client):
    call = answered(client)
    CallEvent.objects.create(
        call=call,
        kind="transfer",
        data={"destination": "sales", "number": "+14155550123", "warm": True, "status": "transferred",
              "summary": "Dana wants a quote for 40 chairs & tables."},
    )  # fmt: skip
    response = client.post(f"/plivo/transfer/whisper/{whisper_token('uuid-1')}/", {"CallUUID": "b-leg-1"})
    assert response.content.decode() == (
        "<Response>\n"
        '  <Speak language="en-US">Dana wants a quote for 40 chairs &amp; tables. Press 1 to take the call.</Speak>\n'
        "</Response>\n"
    )


def test_the_whisper_refuses_a_forged_token(client):
    answered(client)
    assert client.post("/plivo/transfer/whisper/uuid-1:forged/", {"CallUUID": "b"}).status_code == 404


def test_a_completed_dial_hangs_up(client):
    call = answered(client)
    response = client.post("/plivo/transfer/dial-action/?to=sales", {"CallUUID": "uuid-1", "DialStatus": "completed"})
    assert response.content == b"<Response>\n  <Hangup/>\n</Response>\n"
    assert transfer_events(call)[-1] == {"destination": "sales", "number": "+14155550123", "status": "completed"}


def test_no_answer_brings_the_call_back_to_a_new_stream(client):
    call = answered(client)
    params = {"CallUUID": "uuid-1", "DialStatus": "no-answer", "DialHangupCause": "NO_ANSWER"}
    response = client.post("/plivo/transfer/dial-action/?to=sales", params)
    text = response.content.decode()
    token = re.search(r"ws://testserver/ws/plivo/([^/]+)/", text).group(1)
    assert read_stream_token(token) == "uuid-1"
    assert text == (
        "<Response>\n"
        f'  <Stream bidirectional="true" statusCallbackUrl="{SITE}/plivo/stream-status/" statusCallbackMethod="POST" '
        'contentType="audio/x-mulaw;rate=8000" keepCallAlive="true">'
        f"ws://testserver/ws/plivo/{token}/</Stream>\n"
        "</Response>\n"
    )
    assert transfer_events(call)[-1] == {
        "destination": "sales",
        "number": "+14155550123",
        "status": "no-answer",
        "cause": "NO_ANSWER",
    }
    call.refresh_from_db()
    assert call.status == Call.Status.IN_PROGRESS


async def test_the_caller_hears_the_agent_come_back_after_nobody_answered(scripted):
    scripted.transcripts = []
    await sync_to_async(agent_with_destinations)(greeting="")
    first = PlivoCaller(await answer("call-1"), "call-1", stream_id="stream-1")
    assert (await first.connect())[0]
    await first.start()
    client = AsyncClient()
    assert (await client.post("/plivo/transfer/?to=sales", {"CallUUID": "call-1"})).status_code == 200
    await first.hang_up()  # Plivo leaves our stream for the Dial
    back = await client.post("/plivo/transfer/dial-action/?to=sales", {"CallUUID": "call-1", "DialStatus": "busy"})
    path = ET.fromstring(back.content).find("Stream").text.split("testserver", 1)[1]
    second = PlivoCaller(path, "call-1", stream_id="stream-2")
    assert (await second.connect())[0]
    await second.start()
    await second.wait_for_checkpoints(1)
    assert scripted.created[-1][2].spoken == [BACK]
    await eventually(lambda: Turn.objects.exists())
    turns = await sync_to_async(lambda: list(Turn.objects.values_list("role", "text")))()
    assert turns == [("agent", BACK)]
    statuses = await sync_to_async(
        lambda: [d["status"] for d in CallEvent.objects.filter(kind="transfer").values_list("data", flat=True)]
    )()
    assert statuses == ["dialing", "busy", "returned"]
    await second.hang_up()


async def test_the_engine_redirects_the_call_with_the_destination_and_keeps_the_summary(scripted, settings):
    from streaming.providers.base import ToolCall
    from tests.fakes.plivo_api import FakePlivoApi

    arguments = {"destination": "sales", "reason": "wants a quote", "summary": "Dana wants a quote for 40 chairs."}
    scripted.transcripts = ["sales please"]
    scripted.replies = [[ToolCall("t1", "transfer_call", arguments)]]
    with FakePlivoApi() as plivo_api:
        await sync_to_async(agent_with_destinations)(greeting="")
        caller = PlivoCaller(await answer("call-1"), "call-1")
        assert (await caller.connect())[0]
        await caller.start()
        settings.PLIVO_AUTH_ID, settings.PLIVO_AUTH_TOKEN = plivo_api.auth_id, plivo_api.auth_token
        settings.PLIVO_API_URL, settings.PUBLIC_URL = plivo_api.url, "https://voice.example.com"
        await caller.send_audio(synthesize_ulaw("Sales please"))
        await caller.send_silence(400)
        await eventually(lambda: CallEvent.objects.filter(kind="transfer").exists(), timeout=10)
        assert [(r["method"], r["body"]["aleg_url"]) for r in plivo_api.requests] == [
            ("POST", "https://voice.example.com/plivo/transfer/?to=sales")
        ]
    [event] = await sync_to_async(
        lambda: list(CallEvent.objects.filter(kind="transfer").values_list("data", flat=True))
    )()
    assert event == {
        "destination": "sales",
        "number": "+14155550123",
        "warm": True,
        "summary": "Dana wants a quote for 40 chairs.",
        "status": "transferred",
    }
    await caller.hang_up()
