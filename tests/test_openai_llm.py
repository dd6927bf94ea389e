"""OpenAILLM against a local OpenAI-compatible server: the real openai SDK does the HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import datetime

import openai
import pytest

from streaming.providers.base import (
    Conversation,
    Message,
    ProviderError,
    ReplyEvent,
    TextDelta,
    ToolCall,
    Usage,
)
from streaming.providers.config import CallConfig, FaqEntry
from streaming.providers.openai.llm import OpenAILLM
from tests.factories import make_config
from tests.fakes.openai_server import ChatScript, OpenAIFake, ScriptedToolCall

SPEC = make_config(
    system_prompt="You are Ava, the receptionist of Acme Dental.",
    llm_model="gpt-4o-mini",
    temperature=0.3,
    max_tokens=120,
    faq=(FaqEntry(("hours",), "When are you open?", "Monday to Friday, 9 to 5."),),
)


@pytest.fixture
async def llm(openai_fake: OpenAIFake):
    model = OpenAILLM(SPEC)
    yield model
    await model.close()


def conversation(spec: CallConfig = SPEC, **kwargs) -> Conversation:
    return Conversation(config=spec, messages=[Message("caller", "Hi, are you open today?")], **kwargs)


async def collect(llm: OpenAILLM, conv: Conversation | None = None) -> list[ReplyEvent]:
    return [event async for event in llm.reply(conv or conversation())]


async def test_streams_text_deltas_then_usage(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    openai_fake.script(ChatScript(content=["Yes", ", we are", " open."], usage=(120, 9)))

    events = await collect(llm)

    assert events == [TextDelta("Yes"), TextDelta(", we are"), TextDelta(" open."), Usage(120, 9)]
    assert llm.last_first_token_ms is not None


async def test_request_carries_prompt_faq_context_turns_and_settings(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    conv = Conversation(
        config=SPEC,
        caller_number="+14155550100",
        local_time=datetime(2025, 3, 4, 14, 30),
        previous_summary="Asked about whitening prices.",
        messages=[
            Message("caller", "Hello?"),
            Message("agent", "Hi, this is Ava from Acme"),  # interrupted: what the caller heard
            Message("system", "The caller was silent for 8 seconds."),
            Message("tool", "transfer failed"),
            Message("agent", ""),  # nothing heard: left out
            Message("caller", "When are you open?"),
        ],
    )

    await collect(llm, conv)

    request = openai_fake.requests[-1]
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = request.body
    assert body["messages"] == [
        {
            "role": "system",
            "content": "You are Ava, the receptionist of Acme Dental.\n\n"
            "Knowledge base (answer from it when it applies):\n"
            "Q: When are you open?\nA: Monday to Friday, 9 to 5.\n\n"
            "Call context:\n"
            "- Caller's phone number: +14155550100\n"
            "- Local date and time: Tuesday 04 March 2025, 14:30\n"
            "- Summary of this caller's previous call: Asked about whitening prices.",
        },
        {"role": "user", "content": "Hello?"},
        {"role": "assistant", "content": "Hi, this is Ava from Acme"},
        {"role": "system", "content": "The caller was silent for 8 seconds."},
        {"role": "system", "content": "Tool result: transfer failed"},
        {"role": "user", "content": "When are you open?"},
    ]
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("gpt-4o-mini", 0.3, 120)
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert [t["function"]["name"] for t in body["tools"]] == ["end_call"]
    assert body["tools"][0]["function"]["parameters"]["required"] == ["reason"]


async def test_transfer_tool_offered_only_with_a_transfer_number(openai_fake: OpenAIFake) -> None:
    spec = make_config(system_prompt="Be brief.", transfer_number="+14155550199")
    model = OpenAILLM(spec)
    try:
        await collect(model, conversation(spec))
    finally:
        await model.close()

    tools = openai_fake.requests[-1].body["tools"]
    assert [t["function"]["name"] for t in tools] == ["end_call", "transfer_call"]
    assert tools[1]["function"]["parameters"]["properties"]["reason"]["type"] == "string"


async def test_no_system_message_when_there_is_nothing_to_say(openai_fake: OpenAIFake) -> None:
    model = OpenAILLM(make_config())
    try:
        await collect(model, conversation(make_config()))
    finally:
        await model.close()

    assert openai_fake.requests[-1].body["messages"] == [{"role": "user", "content": "Hi, are you open today?"}]


async def test_tool_calls_are_assembled_from_split_deltas(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    openai_fake.script(
        ChatScript(
            content="Goodbye!",
            tool_calls=[
                ScriptedToolCall("end_call", '{"reason": "caller said goodbye"}', id="call_a", fragments=4),
                ScriptedToolCall("transfer_call", '{"reason": "wants a human"}', id="call_b", fragments=3),
            ],
        )
    )

    events = await collect(llm)

    assert events == [
        TextDelta("Goodbye!"),
        ToolCall("call_a", "end_call", {"reason": "caller said goodbye"}),
        ToolCall("call_b", "transfer_call", {"reason": "wants a human"}),
        Usage(42, 7),
    ]


async def test_malformed_tool_arguments_become_an_empty_dict(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    openai_fake.script(ChatScript(tool_calls=[ScriptedToolCall("end_call", '{"reason": "bye', id="call_x")]))

    events = await collect(llm)

    assert events == [ToolCall("call_x", "end_call", {}), Usage(42, 7)]


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (401, None, True),
        (403, None, True),
        (404, None, True),
        (429, None, False),
        (429, "insufficient_quota", True),
        (500, None, False),
        (503, None, False),
    ],
)
async def test_http_errors_become_provider_errors(
    openai_fake: OpenAIFake, llm: OpenAILLM, status: int, code: str | None, permanent: bool
) -> None:
    openai_fake.script(ChatScript(status=status, error_code=code))

    with pytest.raises(ProviderError) as caught:
        await collect(llm)

    assert caught.value.permanent is permanent
    assert caught.value.provider == "openai"
    assert str(status) in str(caught.value)
    assert len(openai_fake.requests) == 1  # no retries: the caller is waiting


async def test_slow_first_token_times_out(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    openai_fake.script(ChatScript(content="Too late.", first_token_delay=2.0))
    llm.first_token_timeout = 0.3
    started = time.monotonic()

    with pytest.raises(ProviderError) as caught:
        await collect(llm)

    assert caught.value.permanent is False
    assert time.monotonic() - started < 1.5


async def test_first_token_timeout_spares_the_rest_of_the_reply(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    openai_fake.script(ChatScript(content="One two three.", chunk_delay=0.1))
    llm.first_token_timeout = 0.15

    events = await collect(llm)

    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "One two three."


async def test_stream_cut_midway_is_an_error(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    openai_fake.script(ChatScript(content="This answer never ends properly.", cut_after_chunks=3))
    received: list[ReplyEvent] = []

    with pytest.raises(ProviderError) as caught:
        async for event in llm.reply(conversation()):
            received.append(event)

    assert caught.value.permanent is False
    assert received == [TextDelta("This"), TextDelta(" answer")]


async def test_connection_refused_is_a_temporary_error(settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    model = OpenAILLM(SPEC)
    try:
        with pytest.raises(ProviderError) as caught:
            await collect(model)
    finally:
        await model.close()
    assert caught.value.permanent is False


async def test_closing_the_reply_early_then_replying_again(openai_fake: OpenAIFake, llm: OpenAILLM) -> None:
    openai_fake.script(ChatScript(content="A long answer the caller interrupts.", chunk_delay=0.05))
    openai_fake.script(ChatScript(content="Sure."))

    reply = llm.reply(conversation())
    assert await anext(reply) == TextDelta("A")
    await reply.aclose()

    assert await collect(llm) == [TextDelta("Sure."), Usage(42, 7)]
    async with asyncio.timeout(5):
        while openai_fake.abandoned_streams == 0:  # the HTTP stream was released, not left open
            await asyncio.sleep(0.01)


async def test_fake_answers_non_streamed_json_requests(openai_fake: OpenAIFake) -> None:
    """The after-call summary uses ``response_format=json_object`` without streaming."""
    openai_fake.script(ChatScript(content=json.dumps({"summary": "Booked a cleaning.", "name": "Dana"})))
    client = openai.AsyncOpenAI(api_key="sk-test", base_url=openai_fake.base_url, max_retries=0)
    try:
        scripted = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Summarize."}],
            response_format={"type": "json_object"},
        )
        default = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Summarize."}],
            response_format={"type": "json_object"},
        )
    finally:
        await client.close()

    assert json.loads(scripted.choices[0].message.content) == {"summary": "Booked a cleaning.", "name": "Dana"}
    assert json.loads(default.choices[0].message.content) == {}
    assert scripted.usage.prompt_tokens == 42
    assert openai_fake.requests[0].body["response_format"] == {"type": "json_object"}


async def test_the_calls_of_a_process_share_one_client_created_at_the_first_request(openai_fake: OpenAIFake) -> None:
    """A client costs a TLS context (~25 ms): not once per call, and not before the greeting."""
    from streaming.providers.openai import client as client_module

    loop = asyncio.get_running_loop()
    client_module._SHARED.pop(loop, None)
    first, second = OpenAILLM(SPEC), OpenAILLM(SPEC)
    assert client_module._SHARED.get(loop, {}) == {}  # a call's LLM creates nothing
    openai_fake.script(ChatScript(content="One."), ChatScript(content="Two."))
    assert [e for e in await collect(first) if isinstance(e, TextDelta)] == [TextDelta("One.")]
    await first.close()  # a call ending does not close what the others use
    assert [e for e in await collect(second) if isinstance(e, TextDelta)] == [TextDelta("Two.")]
    assert first.client is second.client and len(client_module._SHARED[loop]) == 1
