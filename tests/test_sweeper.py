"""The sweeper ends calls nobody will end: a stream whose server process died, a stream that never connected."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from calls.models import Call
from calls.tasks import NEVER_STREAMED_CAUSE, ORPHAN_CAUSE, sweep_orphaned_calls
from streaming.simulator.client import run_call
from streaming.simulator.config import CallScript
from tests.call_factories import dental_agent, make_call
from tests.live_server import ROOT, SCRIPTED, migrated_database, start_server

DIED_NOTE = "The server process holding the call's audio stream stopped; the call was closed by the sweeper."


def live(agent, uuid: str, **fields) -> Call:
    fields = {"stream_ended_at": None, "ended_at": None, "duration_seconds": None, "hangup_cause": "", **fields}
    return make_call(agent, call_uuid=uuid, status=Call.Status.IN_PROGRESS, **fields)


@pytest.mark.django_db
def test_a_stream_whose_process_stopped_beating_is_closed_at_its_last_heartbeat(
    settings, django_capture_on_commit_callbacks
):
    settings.CALL_STALE_SECONDS = 120
    agent, now = dental_agent(), timezone.now()
    started = now - timedelta(minutes=30)
    dead = live(
        agent, "CA-dead", answered_at=started, stream_started_at=started, heartbeat_at=now - timedelta(minutes=15)
    )
    alive = live(
        agent, "CA-alive", answered_at=started, stream_started_at=started, heartbeat_at=now - timedelta(seconds=20)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_orphaned_calls(minutes=10) == 1
    dead.refresh_from_db()
    assert (dead.status, dead.hangup_cause, dead.stream_ended_at, dead.ended_at) == (
        "completed",
        ORPHAN_CAUSE,
        dead.heartbeat_at,
        dead.heartbeat_at,
    )
    assert dead.duration_seconds == 15 * 60 and dead.error_notes == DIED_NOTE
    assert dead.finalized_at is not None and dead.analysis_status == "done"
    alive.refresh_from_db()
    assert (alive.status, alive.stream_ended_at, alive.ended_at, alive.error_notes) == ("in-progress", None, None, "")


@pytest.mark.django_db
def test_a_process_that_died_recently_is_marked_but_waits_for_the_hangup(settings, django_capture_on_commit_callbacks):
    settings.CALL_STALE_SECONDS = 120
    agent, now = dental_agent(), timezone.now()
    started = now - timedelta(minutes=5)
    call = live(
        agent, "CA-died", answered_at=started, stream_started_at=started, heartbeat_at=now - timedelta(minutes=3)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_orphaned_calls(minutes=10) == 0  # Plivo's hang-up may still come: not closed yet
    call.refresh_from_db()
    assert (call.status, call.stream_ended_at, call.ended_at) == ("in-progress", call.heartbeat_at, None)


@pytest.mark.django_db
def test_an_answered_call_whose_stream_never_connected_fails_with_the_reason(django_capture_on_commit_callbacks):
    agent, now = dental_agent(), timezone.now()
    never = live(agent, "CA-never", answered_at=now - timedelta(minutes=20), stream_started_at=None, turns=[])
    ringing = live(agent, "CA-just-answered", answered_at=now - timedelta(minutes=1), stream_started_at=None, turns=[])
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep_orphaned_calls(minutes=10) == 1
    never.refresh_from_db()
    assert (never.status, never.hangup_cause, never.error_notes) == (
        "failed",
        NEVER_STREAMED_CAUSE,
        "Plivo never opened the call's audio stream.",
    )
    assert never.ended_at is not None and never.finalized_at is not None
    ringing.refresh_from_db()
    assert (ringing.status, ringing.ended_at) == ("in-progress", None)


async def test_a_killed_server_leaves_a_call_that_the_sweeper_finalizes(tmp_path):
    """kill -9 of the process holding a live call: no hang-up, no stream end; the sweeper closes and finalizes it."""
    template = migrated_database(tmp_path / "template.sqlite3")
    server = start_server(tmp_path, template, "doomed", VOICE_PROVIDER_FACTORY=SCRIPTED, PLIVO_AUTH_TOKEN="tok")
    script = CallScript(
        to="+14155550100", base_url=server.url, auth_token="tok", call_uuid="CA-killed", hang_up_after_ms=None
    )
    call = asyncio.get_running_loop().create_task(run_call(script))
    try:
        for _ in range(200):
            if server.call("CA-killed").get("heartbeat_at"):
                break
            await asyncio.sleep(0.05)
        assert server.call("CA-killed")["stream_started_at"] is not None
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(5)
        # the simulated caller notices the dead socket and gives up (the simulator reports the stream as refused)
        await asyncio.wait_for(asyncio.gather(call, return_exceptions=True), 30)
    finally:
        call.cancel()
        server.stop()
    before = server.call("CA-killed")
    assert (before["status"], before["stream_ended_at"], before["ended_at"]) == ("in-progress", None, None)
    sweep = "from calls.tasks import sweep_orphaned_calls; print(sweep_orphaned_calls(minutes=0))"
    env = {**server.env, "CALL_STALE_SECONDS": "0"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", sweep], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "1"
    after = server.call("CA-killed")
    assert (after["status"], after["hangup_cause"], after["stream_ended_at"]) == (
        "completed",
        ORPHAN_CAUSE,
        before["heartbeat_at"],
    )
    assert after["finalized_at"] is not None and after["error_notes"] == DIED_NOTE
