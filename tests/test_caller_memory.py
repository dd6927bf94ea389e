"""Memory of returning callers: earlier summaries and notes go into the call's snapshot at the answer webhook and
from there into the LLM request's system message (the real openai SDK against the local fake); the operator sees a
caller's memory in the admin and erases it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync

from agents.memory import CallerNote
from calls import memory
from calls.config import call_config
from calls.models import Call
from streaming.providers.base import Conversation, Message
from streaming.providers.openai.llm import OpenAILLM
from tests.factories import make_agent
from tests.fakes.openai_server import ChatScript

pytestmark = pytest.mark.django_db
CALLER = "+14155550111"


def earlier_call(agent, uuid: str, day: int, summary: str, number: str = CALLER, **fields) -> Call:
    outbound = fields.pop("direction", Call.Direction.INBOUND) == Call.Direction.OUTBOUND
    call = Call.objects.create(
        call_uuid=uuid,
        agent=agent,
        from_number="+14155550100" if outbound else number,
        to_number=number if outbound else "+14155550100",
        direction=Call.Direction.OUTBOUND if outbound else Call.Direction.INBOUND,
        status=Call.Status.COMPLETED,
        summary=summary,
        **fields,
    )
    Call.objects.filter(pk=call.pk).update(created_at=datetime(2026, 11, day, 10, 0, tzinfo=UTC))
    return call


def note(agent, text: str, day: int, number: str = CALLER) -> CallerNote:
    created = CallerNote.objects.create(agent=agent, number=number, text=text, call_uuid="CA-old")
    CallerNote.objects.filter(pk=created.pk).update(created_at=datetime(2026, 11, day, 11, 0, tzinfo=UTC))
    return created


@pytest.fixture
def remembered():
    agent = make_agent(memory_enabled=True, memory_depth=2)
    earlier_call(agent, "CA-1", 1, "Asked about opening hours.")
    earlier_call(agent, "CA-2", 5, "Booked a cleaning for Friday.")
    earlier_call(agent, "CA-3", 9, "Moved the cleaning to Monday.", direction=Call.Direction.OUTBOUND)
    earlier_call(agent, "CA-4", 10, "")  # no summary: nothing to remember
    earlier_call(agent, "CA-5", 11, "Another caller's call.", number="+14155550199")
    earlier_call(agent, "CA-6", 12, "Erased before.", in_memory=False)
    note(agent, "Prefers mornings.", 6)
    note(agent, "Has a dog called Rex.", 8)
    note(agent, "Someone else's note.", 8, number="+14155550199")
    return agent


EXPECTED = [
    "Call on 2026-11-09: Moved the cleaning to Monday.",
    "Call on 2026-11-05: Booked a cleaning for Friday.",
    "Note from 2026-11-08: Has a dog called Rex.",
    "Note from 2026-11-06: Prefers mornings.",
]


def test_memory_lines_are_the_last_summaries_then_the_notes(remembered):
    assert memory.memory_lines(remembered.pk, CALLER, remembered.memory_depth) == EXPECTED
    assert memory.memory_lines(remembered.pk, "anonymous", 3) == []


def test_the_answer_webhook_puts_memory_into_the_snapshot_and_the_llm_request(client, remembered, openai_fake):
    response = client.post("/plivo/answer/", {"CallUUID": "CA-new", "From": "14155550111", "To": "14155550100"})
    assert response.status_code == 200
    call = Call.objects.get(call_uuid="CA-new")
    assert call.agent_snapshot["memory"] == EXPECTED
    config = call_config(call.agent_snapshot)
    assert config.memory == tuple(EXPECTED)

    async def ask() -> None:
        llm = OpenAILLM(config)
        conversation = Conversation(config=config, messages=[Message("caller", "Hi, it's me again.")])
        _ = [event async for event in llm.reply(conversation)]
        await llm.close()

    openai_fake.script(ChatScript(content="Welcome back!"))
    asyncio.run(ask())
    system = openai_fake.requests[-1].body["messages"][0]
    assert system["role"] == "system"
    assert (
        "- Call on 2026-11-09: Moved the cleaning to Monday.\n- Call on 2026-11-05: Booked a cleaning for Friday."
        in (system["content"])
    )
    assert "Asked about opening hours." not in system["content"]  # deeper than memory_depth


def test_memory_off_keeps_the_snapshot_clean(client):
    agent = make_agent()
    earlier_call(agent, "CA-1", 1, "Asked about opening hours.")
    client.post("/plivo/answer/", {"CallUUID": "CA-new", "From": "14155550111", "To": "14155550100"})
    assert "memory" not in Call.objects.get(call_uuid="CA-new").agent_snapshot


@pytest.mark.django_db(transaction=True)  # remember/recall run on the engine's own database threads (PostgreSQL)
def test_remember_and_recall_keep_notes_per_agent_and_caller(remembered):
    async_to_sync(memory.remember)(remembered.pk, CALLER, "  Allergic to   latex. ", "CA-new")
    async_to_sync(memory.remember)(remembered.pk, CALLER, "", "CA-new")  # nothing to keep
    recalled = async_to_sync(memory.recall)(remembered.pk, CALLER)
    today = CallerNote.objects.get(text="Allergic to latex.").created_at
    assert recalled == [
        f"{today:%Y-%m-%d}: Allergic to latex.",
        "2026-11-08: Has a dog called Rex.",
        "2026-11-06: Prefers mornings.",
    ]
    assert CallerNote.objects.get(text="Allergic to latex.").call_uuid == "CA-new"


def test_the_admin_shows_a_callers_memory_and_erases_it(admin_client, remembered):
    page = admin_client.get(f"/admin/agents/callernote/memory/?agent={remembered.pk}&number=%2B14155550111")
    text = page.content.decode()
    assert page.status_code == 200
    for line in ("Prefers mornings.", "Has a dog called Rex.", "Booked a cleaning for Friday.", "Asked about opening"):
        assert line in text
    assert "Someone else" not in text and "Another caller" not in text and "Erased before" not in text

    selected = CallerNote.objects.get(text="Prefers mornings.")
    response = admin_client.post(
        "/admin/agents/callernote/", {"action": "erase_memory", "_selected_action": [selected.pk]}, follow=True
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [f"Erased the memory of {CALLER}: 2 note(s) deleted, 4 call summary(ies) forgotten."]
    assert list(CallerNote.objects.values_list("text", flat=True)) == ["Someone else's note."]
    assert list(Call.objects.filter(in_memory=True).values_list("call_uuid", flat=True)) == ["CA-5"]
    assert memory.memory_lines(remembered.pk, CALLER, 10) == []


def test_erasing_from_the_memory_page_and_from_the_calls_list(admin_client, remembered):
    url = f"/admin/agents/callernote/memory/?agent={remembered.pk}&number=%2B14155550199"
    assert admin_client.post(url).status_code == 302
    assert memory.memory_lines(remembered.pk, "+14155550199", 10) == []
    assert memory.memory_lines(remembered.pk, CALLER, 2) == EXPECTED  # another caller's memory stays
    call = Call.objects.get(call_uuid="CA-3")  # outbound: its callee is the one remembered
    admin_client.post("/admin/calls/call/", {"action": "erase_caller_memory_of_calls", "_selected_action": [call.pk]})
    assert memory.memory_lines(remembered.pk, CALLER, 10) == []


def test_a_bad_agent_id_on_the_memory_page_is_no_error(admin_client):
    assert admin_client.get("/admin/agents/callernote/memory/?agent=abc&number=x").status_code == 200
    assert admin_client.get("/admin/agents/callernote/memory/?agent=999&number=x").status_code == 404
