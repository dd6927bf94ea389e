"""Outbound calls end to end: ``manage.py place_call`` → Celery → the real plivo SDK → the local Plivo REST fake;
then the simulator plays Plivo (ring URL, the outbound answer parameters with the request uuid, the stream, machine
detection, hangup) against a real daphne server with scripted providers."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import pytest

from streaming.simulator.config import CallScript
from streaming.simulator.outbound import Outbound, run_outbound
from tests.fakes.plivo_api import FakePlivoApi
from tests.live_server import (
    SCRIPTED,
    LiveServer,
    free_port,
    manage,
    migrated_database,
    server_env,
    spawn_daphne,
)
from tests.server_process import wait_until_healthy

TOKEN = "outbound-test-token"
AGENT_NUMBER = "+14155550100"  # the demo agent's (seed_demo)
CALLEE = "+14155550199"
GREETING = "Hello {{name}}! This is Example Co about your order {{order}}."
VOICEMAIL = "Hi {{name}}, this is Example Co. Please call us back about order {{order}}."


@pytest.fixture(scope="module")
def plivo_api():
    with FakePlivoApi(auth_token=TOKEN) as api:
        yield api


@pytest.fixture(scope="module")
def server(tmp_path_factory, plivo_api):
    workdir = tmp_path_factory.mktemp("outbound")
    db_path = migrated_database(workdir / "outbound.sqlite3")
    port = free_port()
    env = server_env(
        db_path,
        workdir / "media",
        VOICE_PROVIDER_FACTORY=SCRIPTED,
        SCRIPTED_TRANSCRIPTS="Thank you",
        PLIVO_AUTH_ID=plivo_api.auth_id,
        PLIVO_AUTH_TOKEN=TOKEN,
        PLIVO_API_URL=plivo_api.url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    log_path = workdir / "outbound.log"
    process = spawn_daphne(port, env, log_path)
    live = LiveServer(f"http://127.0.0.1:{port}", db_path, log_path, process, env)
    if problem := wait_until_healthy(live.url, process, timeout=30):
        live.stop()
        raise RuntimeError(f"daphne {problem}:\n{live.log()[-3000:]}")
    with contextlib.closing(sqlite3.connect(db_path, timeout=10)) as db, db:
        db.execute(
            "UPDATE agents_agent SET greeting = ?, voicemail_message = ?, machine_detection = 1 WHERE slug = 'demo'",
            (GREETING, VOICEMAIL),
        )
    try:
        yield live
    finally:
        live.stop()


def place(server: LiveServer, plivo_api: FakePlivoApi) -> tuple[dict, str]:
    """``manage.py place_call`` for the demo agent; the queued call (by its request uuid) and its request uuid."""
    before = len(plivo_api.request_uuids)
    output = manage(server.env, "place_call", "--agent", "demo", "--to", "+1 (415) 555-0199", "--var", "name=Ana",
                    "--var", "order=1234")  # fmt: skip
    assert len(plivo_api.request_uuids) == before + 1, output
    request_uuid = plivo_api.request_uuids[-1]
    rows = server.query("SELECT call_uuid FROM calls_call WHERE request_uuid = ?", request_uuid)
    assert len(rows) == 1, output
    assert output.startswith("Call ") and f"to {CALLEE}: queued (request {request_uuid})" in output
    return server.call(rows[0][0]), request_uuid


def script(server: LiveServer, **options) -> CallScript:
    options = {"silence_ms": 300, "max_seconds": 30, "hang_up_after_ms": 300} | options
    return CallScript(to=CALLEE, caller=AGENT_NUMBER, base_url=server.url, auth_token=TOKEN, **options)


def test_command_refuses_bad_input_with_clear_messages(server):
    def refused(*args: str) -> str:
        with pytest.raises(RuntimeError) as caught:
            manage(server.env, "place_call", *args)
        return str(caught.value)

    assert (
        "“4155550100” has no country code: start with + and the country code, e.g. +1 415 555 0100. [invalid_number]"
        in refused("--agent", "demo", "--to", "4155550100", "--var", "name=Ana", "--var", "order=1")
    )
    assert "No agent with the slug 'nobody'." in refused("--agent", "nobody", "--to", CALLEE)
    assert "The agent's lines use {{order}}: give it a value (e.g. --var order=…). [missing_variables]" in refused(
        "--agent", "demo", "--to", CALLEE, "--var", "name=Ana"
    )
    assert "--var 'name': write it as name=value" in refused("--agent", "demo", "--to", CALLEE, "--var", "name")


def test_answered_call_runs_with_its_variables(server, plivo_api):
    call, request_uuid = place(server, plivo_api)
    assert (call["status"], call["direction"], call["from_number"], call["to_number"]) == (
        "queued",
        "outbound",
        AGENT_NUMBER,
        CALLEE,
    )
    created = next(p for p in plivo_api.created() if p.get("to") == "14155550199")
    signed = created["answer_url"].partition("?placed=")[2]  # the call's id, signed with the server's key
    assert signed and {k: created[k] for k in ("from", "to", "answer_url", "ring_url", "machine_detection")} == {
        "from": "14155550100",
        "to": "14155550199",
        "answer_url": f"{server.url}/plivo/answer/?placed={signed}",
        "ring_url": f"{server.url}/plivo/ring/?placed={signed}",
        "machine_detection": "true",
    }
    seen: dict[str, str] = {}

    def on_event(entry) -> None:
        if entry.kind == "answered":
            seen["answered"] = server.call(simulated.call_uuid)["status"]

    simulated = script(server, turns=["Thank you"], on_event=on_event, call_uuid="plivo-outbound-1")
    call_run = asyncio.run(run_outbound(simulated, Outbound(request_uuid=request_uuid, machine=False)))
    assert call_run.callbacks == [("/plivo/ring/", 200), ("/plivo/machine-detection/", 200)]
    assert call_run.result.error == "" and call_run.result.hangup_status == 200
    stored = server.call("plivo-outbound-1")
    assert stored["id"] == call["id"]  # the queued call took Plivo's CallUUID
    assert seen == {"answered": "in-progress"}
    assert (stored["status"], stored["hangup_cause"], stored["answered_by"]) == (
        "completed",
        "NORMAL_CLEARING",
        "human",
    )
    turns = server.turns("plivo-outbound-1")
    assert turns[0][:2] == ("agent", "Hello Ana! This is Example Co about your order 1234.")
    assert turns[1][:2] == ("caller", "Thank you")
    assert not any("{{" in text for _, text, _, _ in turns)
    assert [e["CallStatus"] for e in server.events("plivo-outbound-1", "ringing")] == ["ringing"]


@pytest.mark.parametrize(
    ("outcome", "status", "cause"), [("no-answer", "no-answer", "NO_ANSWER"), ("busy", "busy", "USER_BUSY")]
)
def test_unanswered_calls(server, plivo_api, outcome, status, cause):  # fmt: skip
    call, request_uuid = place(server, plivo_api)
    call_uuid = f"plivo-{outcome}"
    run = asyncio.run(run_outbound(script(server, call_uuid=call_uuid), Outbound(request_uuid, outcome=outcome)))
    assert run.callbacks == [("/plivo/ring/", 200)] and run.result.hangup_status == 200
    stored = server.call(call_uuid)
    assert (stored["id"], stored["status"], stored["hangup_cause"], stored["answered_by"]) == (
        call["id"],
        status,
        cause,
        "",
    )
    assert stored["ended_at"] and server.turns(call_uuid) == []


def test_machine_gets_the_voicemail_message_then_the_call_hangs_up(server, plivo_api):
    call, request_uuid = place(server, plivo_api)
    simulated = script(
        server, turns=["Please leave a message after the tone"], hang_up_after_ms=None, call_uuid="plivo-machine-1"
    )
    run = asyncio.run(run_outbound(simulated, Outbound(request_uuid, machine=True, machine_after_ms=200)))
    assert run.callbacks == [("/plivo/ring/", 200), ("/plivo/machine-detection/", 200)]
    assert run.result.ended_by == "server"
    stored = server.call("plivo-machine-1")
    assert (stored["id"], stored["answered_by"], stored["status"]) == (call["id"], "voicemail", "completed")
    agent_lines = [
        (text, interrupted) for role, text, interrupted, _ in server.turns("plivo-machine-1") if role == "agent"
    ]
    assert agent_lines[-1] == ("Hi Ana, this is Example Co. Please call us back about order 1234.", 0)
    assert [e["reason"] for e in server.events("plivo-machine-1", "hangup")] == ["voicemail left"]
    assert ("DELETE", f"/v1/Account/{plivo_api.auth_id}/Call/plivo-machine-1/") in [
        (r["method"], r["path"]) for r in plivo_api.requests
    ]
