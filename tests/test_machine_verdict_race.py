"""Machine detection's verdict arriving between the socket's connect (the call read) and the control group's join:
its control message reached nobody, so the consumer reads the verdict once the group holds its process."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from calls.models import Call
from tests.factories import make_agent
from tests.plivo_caller import PlivoCaller, answer
from tests.test_engine_call import eventually, turns

pytestmark = pytest.mark.django_db(transaction=True)
GREETING = "Hello Ana, this is Example Company calling about your order from last week, do you have a minute?"
MESSAGE = "Hi Ana, please call us back about your order."


def update(**fields) -> None:
    Call.objects.filter(call_uuid="call-1").update(**fields)


async def outbound_call_connected() -> PlivoCaller:
    await sync_to_async(make_agent)(greeting=GREETING, voicemail_message=MESSAGE)
    caller = PlivoCaller(await answer("call-1"), "call-1")
    await sync_to_async(update)(direction=Call.Direction.OUTBOUND)  # placed by us: machine detection applies
    connected, _ = await caller.connect()  # the call is read here: no verdict yet
    assert connected
    return caller


async def test_a_verdict_recorded_before_the_control_group_is_joined_still_reaches_the_call(scripted):
    scripted.ms_per_char = 40  # the greeting plays for seconds
    caller = await outbound_call_connected()
    # Plivo's machine-detection webhook records "voicemail" now; its control message finds no listener yet
    await sync_to_async(update)(answered_by=Call.AnsweredBy.VOICEMAIL)
    await caller.start()
    await caller.send_silence(2000)  # the machine's beep is over: quiet
    await eventually(lambda: [t[:2] for t in turns()][-1:] == [("agent", MESSAGE)], timeout=10)
    stored = await sync_to_async(turns)()
    assert [(role, text, interrupted) for role, text, _, interrupted in stored] == [
        ("agent", GREETING, True),  # cut: nobody listens to a machine
        ("agent", MESSAGE, False),  # after its beep
    ]
    await caller.hang_up()


async def test_a_person_who_answered_gets_the_whole_greeting(scripted):
    caller = await outbound_call_connected()
    await sync_to_async(update)(answered_by=Call.AnsweredBy.HUMAN)
    await caller.start()
    await caller.wait_for_checkpoints(1)
    await eventually(lambda: len(turns()) == 1 and turns()[0][2] != "")
    assert await sync_to_async(turns)() == [("agent", GREETING, GREETING, False)]
    assert caller.events("clearAudio") == []
    await caller.hang_up()
