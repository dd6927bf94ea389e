"""Tools around the engine: the turn-taking table for the new events, what the LLM request offers and says
(destinations, memory, tool exchanges), the offline responder's tool trigger, and the pages showing tool calls."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from calls.models import Turn
from streaming.providers.base import Conversation, Message, ToolCall
from streaming.providers.config import FaqEntry, ToolSpec, TransferDestination
from streaming.providers.offline.responder import NEED_DETAILS, TOOL_FAILED, OfflineResponder, spoken_result
from streaming.providers.openai.llm import OpenAILLM, system_message
from streaming.providers.openai.tools import consistent, tools_for
from streaming.session import Session, State
from streaming.tool_loop import ToolRecord, model_content
from streaming.turns import (
    PlaybackDone,
    Say,
    SendDtmf,
    SendDtmfRequested,
    StopSilenceTimer,
    Transfer,
    TransferRequested,
)
from tests.call_factories import make_call, make_user
from tests.factories import make_config

ORDER_TOOL = ToolSpec(
    id=7,
    name="order_status",
    description="Look up an order.",
    parameters={"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
    timeout_seconds=2.0,
    wait_line="One moment.",
    on_failure="line",
    failure_line="Sorry.",
)
DESTINATIONS = (
    TransferDestination("sales", "+14155550123", "New orders and prices."),
    TransferDestination("billing", "sip:billing@example.com", "Invoices and refunds."),
)


# ---- the turn-taking table ----
@pytest.mark.parametrize(
    ("state", "event", "actions", "after"),
    [
        (State.SPEAKING, SendDtmfRequested("12#"), [SendDtmf("12#")], State.SPEAKING),
        (State.THINKING, SendDtmfRequested("2"), [SendDtmf("2")], State.THINKING),
        (State.LISTENING, SendDtmfRequested("2"), [SendDtmf("2")], State.LISTENING),
        (State.ENDING, SendDtmfRequested("2"), [], State.ENDING),
        (State.ENDED, SendDtmfRequested("2"), [], State.ENDED),
        (
            State.SPEAKING,
            TransferRequested("wants a person", "billing", "Ann asks about invoice 42."),
            [StopSilenceTimer(), Say("Please hold while I transfer you.", "transfer")],
            State.ENDING,
        ),
        (State.ENDING, TransferRequested("again", "sales", ""), [], State.ENDING),
    ],
)
def test_session_table(state, event, actions, after):
    session = Session(make_config())
    session.state = state
    assert session.handle(event) == actions
    assert session.state is after


def test_the_transfer_goes_where_the_llm_asked_once_its_line_has_played():
    session = Session(make_config())
    session.state = State.SPEAKING
    session.handle(TransferRequested("wants billing", "billing", "Ann asks about invoice 42."))
    assert session.handle(PlaybackDone("transfer")) == [Transfer("billing", "Ann asks about invoice 42.")]
    assert session.state is State.ENDED


def test_a_legacy_transfer_goes_to_the_default_destination():
    session = Session(make_config(transfer_number="+14155550123"))
    session.state = State.SPEAKING
    session.handle(TransferRequested("wants a person"))
    assert session.handle(PlaybackDone("transfer")) == [Transfer("", "")]


# ---- what the LLM is offered and told ----
def names(tools: list[dict]) -> list[str]:
    return [t["function"]["name"] for t in tools]


def test_the_offered_tools_follow_the_agent_and_the_call():
    assert names(tools_for(make_config())) == ["end_call"]
    config = make_config(tools=(ORDER_TOOL,), memory_enabled=True, transfer_destinations=DESTINATIONS)
    assert names(tools_for(config, outbound=True)) == [
        "end_call",
        "transfer_call",
        "send_dtmf",
        "remember",
        "recall",
        "order_status",
    ]
    shadowing = ToolSpec(8, "end_call", "Not allowed to shadow a built-in.", {"type": "object"}, 1.0)
    assert names(tools_for(make_config(tools=(shadowing,)))) == ["end_call"]


def test_transfer_call_offers_the_named_destinations_and_asks_for_a_summary():
    config = make_config(transfer_destinations=DESTINATIONS, transfer_number="+14155550100")
    [transfer] = [t["function"] for t in tools_for(config) if t["function"]["name"] == "transfer_call"]
    parameters = transfer["parameters"]
    assert parameters["properties"]["destination"]["enum"] == ["sales", "billing", "default"]
    assert parameters["required"] == ["destination", "reason", "summary"]
    assert "sales: New orders and prices.; billing: Invoices and refunds." in transfer["description"]


def test_the_request_offers_no_tools_in_the_last_round():
    llm = OpenAILLM(make_config(tools=(ORDER_TOOL,)))
    conversation = Conversation(make_config(tools=(ORDER_TOOL,)), [Message("caller", "Hi")])
    assert llm.request(conversation)["tool_choice"] == "auto"
    conversation.tools_allowed = False
    request = llm.request(conversation)
    assert request["tool_choice"] == "none" and "parallel_tool_calls" not in request


def test_memory_goes_into_the_system_message_instead_of_the_previous_summary():
    memory = ("Call on 2025-03-01: Asked about whitening.", "Call on 2025-02-01: Booked a cleaning.")
    conversation = Conversation(make_config(memory=memory), previous_summary="Asked about whitening.")
    text = system_message(conversation)
    assert text.endswith(
        "What you remember about this caller from earlier calls (use it naturally):\n"
        "- Call on 2025-03-01: Asked about whitening.\n"
        "- Call on 2025-02-01: Booked a cleaning."
    )
    assert "Summary of this caller's previous call" not in text


def test_the_history_is_made_consistent_for_the_api():
    call = ToolCall("call_1", "order_status", {"order_id": "1"})
    unanswered = ToolCall("call_2", "order_status", {"order_id": "2"})
    messages = [
        Message("caller", "Orders one and two?"),
        Message("agent", "Checking.", tool_calls=(call, unanswered)),
        Message("tool", '{"ok": 1}', tool_call_id="call_1", name="order_status"),
        Message("agent", "", tool_calls=(ToolCall("call_3", "recall", {}),)),  # cut by a barge-in: no answer
        Message("tool", "late", tool_call_id="call_9", name="order_status"),  # an orphan answer
        Message("agent", ""),
    ]
    assert consistent(messages) == [
        Message("caller", "Orders one and two?"),
        Message("agent", "Checking.", tool_calls=(call,)),
        Message("tool", '{"ok": 1}', tool_call_id="call_1", name="order_status"),
        Message("tool", "order_status: late"),
    ]


def test_what_the_model_reads_of_a_failure():
    record = ToolRecord("c", "order_status", {}, status="timeout", error="no answer within 2 s")
    assert json.loads(model_content(record, "Sorry.")) == {
        "error": "no answer within 2 s",
        "status": "timeout",
        "caller_was_told": "Sorry.",
    }
    ok = ToolRecord("c", "order_status", {}, status="ok", result='{"a": 1}', truncated=True)
    assert model_content(ok) == '{"a": 1}\n[the response was cut here]'


# ---- the offline responder ----
FAQ = (
    FaqEntry(
        ("order",), "Where is my order?", "Your order {order_id} is {status}.", "order_status", r"(?P<order_id>\d+)"
    ),
)


def test_the_offline_responder_triggers_the_tool_with_regex_arguments():
    responder = OfflineResponder(make_config(faq=FAQ, tools=(ORDER_TOOL,)))
    call = responder.respond(Message("caller", "where is my order 4711"))
    assert isinstance(call, ToolCall) and (call.name, call.arguments) == ("order_status", {"order_id": "4711"})
    assert responder.respond(Message("caller", "where is my order")) == NEED_DETAILS
    without_tool = OfflineResponder(make_config(faq=FAQ))  # the tool is not the agent's (any more): the answer
    assert without_tool.respond(Message("caller", "my order 1")) == "Your order {order_id} is {status}."


@pytest.mark.parametrize(
    ("result", "template", "said"),
    [
        ('{"order_id": "1", "status": "shipped"}', "Your order {order_id} is {status}.", "Your order 1 is shipped."),
        ('{"message": "It ships Friday."}', "Your order {order_id} is {status}.", "It ships Friday."),
        ('{"text": "Done!"}', "", "Done!"),
        ('{"x": 1}', "I have updated your booking.", "I have updated your booking."),
        ("Shipped on Monday.", "", "Shipped on Monday."),
        ('{"error": "HTTP 500", "status": "http_error"}', "Your order {status}.", TOOL_FAILED),
    ],
)
def test_the_offline_responder_speaks_from_the_result(result, template, said):
    assert spoken_result(result, template) == said


# ---- the pages ----
@pytest.mark.django_db
def test_the_call_page_shows_a_turns_tool_calls(client):
    call = make_call(turns=[("agent", "One moment.", 0, 900, True, "One", {})])
    record = {
        "id": "call_1",
        "name": "order_status",
        "arguments": {"order_id": "A-1001"},
        "status": "ok",
        "http_status": 200,
        "latency_ms": 812,
        "result": '{"status": "<shipped>"}',
        "truncated": False,
        "error": "",
        "spoken": False,
        "cancelled_by_barge_in": True,
    }
    Turn.objects.filter(call=call).update(tool_calls=[record])
    client.force_login(make_user("viewer", permitted=True))
    for page in ("call-detail", "call-live"):
        html = client.get(reverse(page, args=[call.pk])).content.decode()
        assert "<code>order_status</code> · ok (HTTP 200) · 812 ms" in html
        assert "not spoken: the caller interrupted" in html
        assert "<code>order_id</code> = A-1001" in html
        assert "&quot;status&quot;: &quot;&lt;shipped&gt;&quot;" in html  # escaped like any text
