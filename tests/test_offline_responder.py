"""The offline responder: FAQ answers, greetings, goodbye and transfer tools, keypad presses, echo."""

from __future__ import annotations

import pytest

from streaming.providers.base import Conversation, Message, TextDelta, ToolCall, Usage
from streaming.providers.config import CallConfig, FaqEntry
from streaming.providers.offline.responder import NOBODY_AVAILABLE, OfflineResponder
from streaming.providers.registry import create_llm
from tests.factories import make_config

HOURS = "We are open from nine to five, Monday to Friday."
PARKING = "Yes, there is free parking behind the building."
FAQ = (
    FaqEntry(("hours", "open"), "What are your opening hours?", HOURS),
    FaqEntry(("parking", "car park"), "Is there parking?", PARKING),
)
SPEC = make_config(faq=FAQ)


async def reply_events(spec: CallConfig, *texts: str, role: str = "caller") -> list:
    messages = [Message(role, text) for text in texts]
    return [event async for event in OfflineResponder(spec).reply(Conversation(spec, messages))]


async def reply_text(spec: CallConfig, *texts: str, role: str = "caller") -> str:
    events = await reply_events(spec, *texts, role=role)
    assert events[-1] == Usage(0, 0)
    assert all(isinstance(event, TextDelta) for event in events[:-1])
    return "".join(event.text for event in events[:-1])


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("What are your opening hours?", HOURS),
        ("when are you open", HOURS),
        ("Which HOURS?", HOURS),
        ("is there parking", PARKING),
        ("Hi, is there a car park nearby?", PARKING),
    ],
)
async def test_faq_keyword_gives_its_answer(said, answer):
    assert await reply_text(SPEC, said) == answer


async def test_text_streams_as_word_deltas():
    events = await reply_events(SPEC, "is there parking")

    assert events == [
        TextDelta("Yes, "),
        TextDelta("there "),
        TextDelta("is "),
        TextDelta("free "),
        TextDelta("parking "),
        TextDelta("behind "),
        TextDelta("the "),
        TextDelta("building."),
        Usage(0, 0),
    ]


@pytest.mark.parametrize("said", ["hi", "Hello!", "hello there", "Good morning"])
async def test_greeting_gets_a_friendly_hello(said):
    assert await reply_text(SPEC, said) == "Hello! How can I help?"


@pytest.mark.parametrize("said", ["goodbye", "Thank you, goodbye.", "bye bye", "No thanks, that's all"])
async def test_goodbye_calls_end_call_without_text(said):
    events = await reply_events(SPEC, said)

    assert events == [ToolCall("offline_1", "end_call", {"reason": "caller said goodbye"}), Usage(0, 0)]


@pytest.mark.parametrize("said", ["talk to a person", "Can I speak to a human?", "operator", "I want a real person"])
async def test_person_request_transfers_when_a_number_is_set(said):
    events = await reply_events(make_config(faq=FAQ, transfer_number="+14155550100"), said)

    assert events == [ToolCall("offline_1", "transfer_call", {"reason": "caller asked for a person"}), Usage(0, 0)]


async def test_person_request_without_a_number_says_nobody_is_available():
    assert await reply_text(SPEC, "can I talk to someone please") == NOBODY_AVAILABLE


async def test_anything_else_is_echoed_honestly():
    assert await reply_text(SPEC, " my car broke down ") == 'I heard: "my car broke down". How else can I help?'


async def test_thanks_gets_you_are_welcome():
    assert await reply_text(SPEC, "thank you") == "You're welcome! Is there anything else I can help with?"


async def test_only_the_last_caller_message_counts():
    messages = [Message("caller", "goodbye"), Message("agent", "Wait!"), Message("caller", "is there parking")]

    events = [event async for event in OfflineResponder(SPEC).reply(Conversation(SPEC, messages))]

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == PARKING


@pytest.mark.parametrize(
    ("said", "role", "answer"),
    [
        ("the caller pressed 1", "caller", HOURS),
        ("The caller pressed 2", "system", PARKING),
        ("the caller pressed 7", "caller", "You pressed 7. Please tell me how I can help."),
        ("the caller pressed #", "system", "You pressed #. Please tell me how I can help."),
        ("the caller pressed 0", "caller", NOBODY_AVAILABLE),
    ],
)
async def test_keypad_press(said, role, answer):
    assert await reply_text(SPEC, said, role=role) == answer


async def test_keypad_zero_transfers_when_a_number_is_set():
    events = await reply_events(make_config(transfer_number="+14155550100"), "the caller pressed 0")

    assert events[0].name == "transfer_call"


async def test_empty_or_missing_caller_message():
    assert await reply_text(SPEC, "  ...  ") == "Sorry, I didn't catch that. How can I help?"
    assert await reply_text(SPEC) == "How can I help?"


async def test_tool_call_ids_are_unique_per_responder():
    responder = OfflineResponder(SPEC)
    conversation = Conversation(SPEC, [Message("caller", "bye")])

    first, _usage = [e async for e in responder.reply(conversation)]
    second, _usage = [e async for e in responder.reply(conversation)]

    assert (first.id, second.id) == ("offline_1", "offline_2")


async def test_registry_creates_it_for_offline_agents():
    llm = create_llm(make_config(llm_provider="offline"))

    assert isinstance(llm, OfflineResponder)
    await llm.close()
    await llm.close()
