"""Tools in a live call: the real OpenAI SDK against the wire fake asks for a tool, the engine calls it over HTTP
(the real ``calls.tool_http`` against a local receiver), feeds the result back and speaks the continuation in the
same turn; failures are spoken, parallel calls run together, a barge-in does not cancel a request already sent,
``send_dtmf`` sends Plivo's frame, and the offline responder triggers a tool from an FAQ entry."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, CallerNote, FaqEntry, Tool, TransferDestination
from calls.models import Call, CallEvent, Turn
from streaming.providers.config import CallConfig
from streaming.providers.offline.responder import OfflineResponder
from streaming.providers.openai.llm import OpenAILLM
from tests.factories import make_agent
from tests.fakes.openai_server import ChatScript, ScriptedToolCall
from tests.fakes.scripted import ScriptedSTT, ScriptedTTS, tone
from tests.fakes.tool_receiver import Reply, ToolReceiver
from tests.plivo_caller import PlivoCaller, answer
from tests.test_engine_call import eventually

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "engine-tool-secret"
FAILURE_LINE = "Sorry, I can't look that up right now."
TRANSCRIPTS: list[str] = []
OFFLINE = {"on": False}


def factory(config: CallConfig):
    """Scripted speech (fast), the real OpenAI LLM (or the offline responder) for the language model."""
    llm = OfflineResponder(config) if OFFLINE["on"] else OpenAILLM(config)
    return ScriptedSTT(config, TRANSCRIPTS, final_ms=150), llm, ScriptedTTS(config, first_audio_ms=10, ms_per_char=20)


@pytest.fixture
def engine(settings):
    settings.VOICE_PROVIDER_FACTORY = "tests.test_tool_engine.factory"
    settings.TOOLS_ALLOW_PRIVATE_TARGETS = True
    TRANSCRIPTS.clear()
    OFFLINE["on"] = False
    yield
    TRANSCRIPTS.clear()
    OFFLINE["on"] = False


def make_tool(url: str, **fields) -> Tool:
    return Tool.objects.create(
        name=fields.pop("name", "order_status"),
        description="Look up an order's status by its id.",
        parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
        url=url,
        method="POST",
        signing_secret=SECRET,
        **fields,
    )


def setup_agent(url: str, tool_fields: dict | None = None, **agent_fields) -> tuple[Agent, Tool]:
    agent_fields.setdefault("greeting", "")
    agent_fields.setdefault("preemptive_reply", False)
    agent_fields.setdefault("end_call_phrases", "")
    agent = make_agent(**agent_fields)
    tool = make_tool(url, **(tool_fields or {}))
    agent.tools.add(tool)
    return agent, tool


async def start(call_uuid: str = "call-1", outbound: bool = False) -> PlivoCaller:
    caller = PlivoCaller(await answer(call_uuid), call_uuid)
    if outbound:
        await sync_to_async(Call.objects.filter(call_uuid=call_uuid).update)(direction=Call.Direction.OUTBOUND)
    connected, _ = await caller.connect()
    assert connected
    await caller.start()
    return caller


async def speak(caller: PlivoCaller, ms: int = 700) -> None:
    await caller.send_audio(tone(ms))
    await caller.send_silence(400)


def agent_turns() -> list[Turn]:
    return list(Turn.objects.filter(role="agent").order_by("sequence"))


async def settled_agent_turn(predicate, timeout: float = 15.0) -> Turn:
    """The latest agent turn once ``predicate(turn)`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        turns = await sync_to_async(agent_turns)()
        if turns and predicate(turns[-1]):
            return turns[-1]
        assert loop.time() < deadline, f"no such agent turn: {[(t.text, t.tool_calls) for t in turns]}"
        await asyncio.sleep(0.05)


def chat_requests(fake) -> list[dict]:
    return [r.body for r in fake.requests if r.path.endswith("/chat/completions")]


def order_call(arguments: str = '{"order_id": "A-1001"}', id: str = "call_1") -> ScriptedToolCall:
    return ScriptedToolCall("order_status", arguments, id=id)


async def test_a_tool_round_trip_signed_request_result_to_the_model_and_the_spoken_continuation(engine, openai_fake):
    TRANSCRIPTS.append("Where is my order A-1001?")
    openai_fake.script(
        ChatScript(content="Let me check.", tool_calls=[order_call()]),
        ChatScript(content="Your order A-1001 has shipped and arrives Friday."),
    )
    with ToolReceiver([Reply(body=b'{"status": "shipped", "eta": "Friday"}')]) as receiver:
        await sync_to_async(setup_agent)(receiver.url)
        caller = await start()
        await speak(caller)
        turn = await settled_agent_turn(lambda t: "Friday" in t.text and t.heard_text)
        await caller.hang_up()

    [request] = receiver.requests
    assert (request.method, request.path, request.body) == ("POST", "/tools/order_status", b'{"order_id":"A-1001"}')
    timestamp = request.headers["x-timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["x-signature"] == expected
    assert (request.headers["x-call-uuid"], request.headers["x-tool-call-id"]) == ("call-1", "call_1")

    first, second = chat_requests(openai_fake)
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(offered) == {"end_call", "order_status"}
    assert offered["order_status"]["parameters"]["required"] == ["order_id"]
    assert (first["tool_choice"], first["parallel_tool_calls"]) == ("auto", True)
    assert second["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "order_status", "arguments": '{"order_id": "A-1001"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped", "eta": "Friday"}'},
    ]
    assert turn.text == "Let me check. Your order A-1001 has shipped and arrives Friday."
    [record] = turn.tool_calls
    assert record["latency_ms"] >= 0
    assert {k: v for k, v in record.items() if k != "latency_ms"} == {
        "id": "call_1",
        "name": "order_status",
        "arguments": {"order_id": "A-1001"},
        "status": "ok",
        "http_status": 200,
        "result": '{"status": "shipped", "eta": "Friday"}',
        "truncated": False,
        "error": "",
        "spoken": True,
    }


@pytest.mark.parametrize(
    ("reply", "status", "http_status"),
    [
        (Reply(delay=3.0), "timeout", None),
        (Reply(status=500, body=b'{"detail": "boom"}'), "http_error", 500),
        (Reply(body=b"<html>not json</html>", content_type="text/html"), "error", 200),
        (Reply(stream_bytes=5 * 1024 * 1024), "error", 200),
    ],
    ids=["timeout", "500", "not-json", "5MB"],
)
async def test_a_failing_tool_speaks_its_failure_line_and_the_call_goes_on(
    engine, openai_fake, reply, status, http_status
):
    TRANSCRIPTS.extend(["Where is my order A-1001?", "Thanks anyway."])
    openai_fake.script(ChatScript(content="", tool_calls=[order_call()]), ChatScript(content="You're welcome."))
    with ToolReceiver([reply]) as receiver:
        tool_fields = {"timeout_seconds": 1.0, "wait_line": "One moment please."}
        await sync_to_async(setup_agent)(receiver.url, tool_fields)
        caller = await start()
        await speak(caller)
        turn = await settled_agent_turn(lambda t: FAILURE_LINE in t.text and t.heard_text)
        [record] = turn.tool_calls
        assert (record["status"], record["http_status"], record["spoken"]) == (status, http_status, True)
        if status == "timeout":  # slower than a second: the wait line first
            assert turn.text == f"One moment please. {FAILURE_LINE}"
        else:
            assert turn.text == FAILURE_LINE
        assert len(chat_requests(openai_fake)) == 1  # the caller heard how it went: no other round
        await speak(caller)
        await settled_agent_turn(lambda t: t.text == "You're welcome." and t.heard_text)
        await caller.hang_up()
    follow_up = chat_requests(openai_fake)[1]["messages"]
    tool_message = next(m for m in follow_up if m["role"] == "tool")
    assert json.loads(tool_message["content"])["caller_was_told"] == FAILURE_LINE
    assert caller.closed_code is None


async def test_a_tool_error_goes_to_the_model_when_it_decides(engine, openai_fake):
    TRANSCRIPTS.append("Where is my order A-1001?")
    openai_fake.script(
        ChatScript(content="", tool_calls=[order_call()]),
        ChatScript(content="Our order system is down, please call back later."),
    )
    with ToolReceiver([Reply(status=503, body=b"busy")]) as receiver:
        await sync_to_async(setup_agent)(receiver.url, {"on_failure": "llm"})
        caller = await start()
        await speak(caller)
        turn = await settled_agent_turn(lambda t: "down" in t.text and t.heard_text)
        await caller.hang_up()
    assert turn.text == "Our order system is down, please call back later."
    tool_message = chat_requests(openai_fake)[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert json.loads(tool_message["content"]) == {
        "error": "HTTP 503",
        "status": "http_error",
        "http_status": 503,
        "body": "busy",
    }


async def test_parallel_tool_calls_run_together_and_all_results_go_back(engine, openai_fake):
    TRANSCRIPTS.append("Where are my orders one and two?")
    calls = [order_call('{"order_id": "1"}', "call_a"), order_call('{"order_id": "2"}', "call_b")]
    openai_fake.script(ChatScript(content="", tool_calls=calls), ChatScript(content="Both have shipped."))
    replies = {
        "call_a": Reply(body=b'{"order": "one"}', delay=0.4),
        "call_b": Reply(body=b'{"order": "two"}', delay=0.4),
    }
    with ToolReceiver(by_tool_call=replies) as receiver:
        await sync_to_async(setup_agent)(receiver.url, {"wait_line": "Checking both."})
        caller = await start()
        await speak(caller)
        turn = await settled_agent_turn(lambda t: t.text == "Both have shipped." and t.heard_text)
        await caller.hang_up()
    assert sorted(json.loads(r.body)["order_id"] for r in receiver.requests) == ["1", "2"]
    assert sorted(r.headers["x-tool-call-id"] for r in receiver.requests) == ["call_a", "call_b"]
    messages = chat_requests(openai_fake)[1]["messages"]
    assert [m["role"] for m in messages[-3:]] == ["assistant", "tool", "tool"]
    assert [c["id"] for c in messages[-3]["tool_calls"]] == ["call_a", "call_b"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[-2:]] == [
        ("call_a", '{"order": "one"}'),
        ("call_b", '{"order": "two"}'),
    ]
    assert [(r["id"], r["status"]) for r in turn.tool_calls] == [("call_a", "ok"), ("call_b", "ok")]
    assert "Checking both." not in turn.text  # both answered within a second: no wait line


async def test_a_barge_in_cuts_the_speech_not_the_request_already_sent(engine, openai_fake):
    TRANSCRIPTS.extend(["Where is my order A-1001?", "Actually forget it, what are your hours?"])
    openai_fake.script(ChatScript(content="", tool_calls=[order_call()]), ChatScript(content="Nine to five."))
    wait_line = "One moment please, I am looking that up for you in our order system right now."
    with ToolReceiver([Reply(body=b'{"status": "shipped"}', delay=2.5)]) as receiver:
        await sync_to_async(setup_agent)(receiver.url, {"wait_line": wait_line, "timeout_seconds": 10})
        caller = await start()
        await speak(caller)
        await caller.wait_for(lambda: len(caller.events("playAudio")) > 10, timeout=10)  # the wait line plays
        await speak(caller, 900)
        await caller.wait_for(lambda: len(caller.events("clearAudio")) >= 1, timeout=10)
        # stored as interrupted at the barge-in; the tool's result updates it when it comes in
        await eventually(lambda: Turn.objects.filter(interrupted=True, tool_calls__0__status="ok").exists(), 10)
        turn = await sync_to_async(Turn.objects.get)(role="agent", interrupted=True)
        await settled_agent_turn(lambda t: t.text == "Nine to five." and t.heard_text)
        await caller.hang_up()
    assert len(receiver.requests) == 1
    assert turn.interrupted and turn.text == wait_line and turn.heard_text != wait_line
    [record] = turn.tool_calls
    assert (record["result"], record["spoken"], record["cancelled_by_barge_in"]) == (
        '{"status": "shipped"}',
        False,
        True,
    )


async def test_send_dtmf_sends_plivos_frame_on_an_outbound_call(engine, openai_fake):
    TRANSCRIPTS.append("For billing press two.")
    openai_fake.script(
        ChatScript(content="", tool_calls=[ScriptedToolCall("send_dtmf", '{"digits": "2"}', id="call_d")]),
        ChatScript(content=""),
    )
    with ToolReceiver() as receiver:
        await sync_to_async(setup_agent)(receiver.url)
        caller = await start(outbound=True)
        await speak(caller)
        await caller.wait_for(lambda: caller.events("sendDTMF"), timeout=10)
        turn = await settled_agent_turn(lambda t: t.tool_calls)
        await caller.hang_up()
    assert caller.events("sendDTMF") == [{"event": "sendDTMF", "dtmf": "2"}]
    first = chat_requests(openai_fake)[0]
    assert "send_dtmf" in [t["function"]["name"] for t in first["tools"]]
    assert [(r["name"], r["status"], r["result"]) for r in turn.tool_calls] == [("send_dtmf", "ok", '{"sent": "2"}')]
    assert chat_requests(openai_fake)[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_d",
        "content": '{"sent": "2"}',
    }


async def test_the_offline_responder_calls_a_tool_from_an_faq_entry(engine):
    OFFLINE["on"] = True
    TRANSCRIPTS.append("where is my order 1234 please")
    with ToolReceiver([Reply(body=b'{"order_id": "1234", "status": "on its way"}')]) as receiver:

        def agent() -> None:
            agent, tool = setup_agent(receiver.url, llm_provider="offline")
            FaqEntry.objects.create(
                agent=agent,
                question="Where is my order?",
                keywords="order",
                answer="Your order {order_id} is {status}.",
                tool=tool,
                tool_pattern=r"order (?P<order_id>\d+)",
            )

        await sync_to_async(agent)()
        caller = await start()
        await speak(caller)
        turn = await settled_agent_turn(lambda t: t.heard_text)
        await caller.hang_up()
    [request] = receiver.requests
    assert request.body == b'{"order_id":"1234"}'
    assert turn.text == "Your order 1234 is on its way."
    assert [(r["name"], r["arguments"], r["status"]) for r in turn.tool_calls] == [
        ("order_status", {"order_id": "1234"}, "ok")
    ]


async def test_transfer_call_goes_to_the_named_destination_with_the_llms_summary(engine, openai_fake):
    TRANSCRIPTS.append("I have a question about my invoice.")
    arguments = '{"destination": "billing", "reason": "invoice", "summary": "Ann asks about invoice 42."}'
    openai_fake.script(
        ChatScript(content="I'll connect you.", tool_calls=[ScriptedToolCall("transfer_call", arguments, id="t1")])
    )
    with ToolReceiver() as receiver:

        def agent() -> None:
            agent, _ = setup_agent(receiver.url)
            TransferDestination.objects.create(
                agent=agent, name="billing", destination="+14155550999", description="Invoices."
            )

        await sync_to_async(agent)()
        caller = await start()
        await speak(caller)
        await caller.wait_for(lambda: caller.closed_code is not None, timeout=15)
        await caller.hang_up()
    first = chat_requests(openai_fake)[0]
    [transfer] = [t["function"] for t in first["tools"] if t["function"]["name"] == "transfer_call"]
    assert transfer["parameters"]["properties"]["destination"]["enum"] == ["billing"]
    events = await sync_to_async(
        lambda: list(CallEvent.objects.filter(kind="transfer").values_list("data", flat=True))
    )()
    assert events == [
        {
            "destination": "billing",
            "number": "+14155550999",
            "warm": True,
            "summary": "Ann asks about invoice 42.",
            "status": "no-credentials",
        }
    ]
    assert receiver.requests == []


async def test_remember_keeps_a_note_about_the_caller_when_memory_is_on(engine, openai_fake):
    TRANSCRIPTS.append("Please remember I prefer mornings.")
    note = ScriptedToolCall("remember", '{"note": "Prefers morning appointments."}', id="m1")
    openai_fake.script(ChatScript(content="", tool_calls=[note]), ChatScript(content="I'll remember that."))
    with ToolReceiver() as receiver:
        agent, _ = await sync_to_async(setup_agent)(receiver.url, memory_enabled=True)
        caller = await start()
        await speak(caller)
        turn = await settled_agent_turn(lambda t: t.text == "I'll remember that." and t.heard_text)
        await caller.hang_up()
    notes = await sync_to_async(
        lambda: list(CallerNote.objects.values_list("agent_id", "number", "text", "call_uuid"))
    )()
    assert notes == [(agent.pk, "+14155550111", "Prefers morning appointments.", "call-1")]
    assert [(r["name"], r["status"]) for r in turn.tool_calls] == [("remember", "ok")]
    offered = [t["function"]["name"] for t in chat_requests(openai_fake)[0]["tools"]]
    assert offered == ["end_call", "remember", "recall", "order_status"]
