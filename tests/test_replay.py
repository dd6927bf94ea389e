"""Replay of real calls through the real engine (offline providers): from the recording's caller channel or, without
one, the transcribed caller turns re-spoken; the original beside the new, turn by turn; save as a scenario."""

from __future__ import annotations

import json

import pytest

from tests.live_server import LiveServer, migrated_database, start_server
from tests.server_process import manage

HOURS = "We are open Monday to Friday from nine in the morning to six in the evening."
SOURCE = """
from agents.models import Agent
from calls.models import Scenario
from calls.scenarios import runs
from streaming.scenarios.execute import run_scenario
agent = Agent.objects.get(slug="demo")
agent.record_calls = True
agent.save()
scenario = Scenario.objects.create(agent=agent, name="source", script=[{"say": "What are your opening hours?"},
    {"say": "Where are you located?"}], expectations=[])
run = run_scenario(runs.start_run(scenario), base_url=URL)
print(run.call_id)
"""
REPLAY = """
import json
from calls.models import Call
from calls.scenarios import replay
from streaming.scenarios.execute import run_replay
source = Call.objects.get(pk=CALL_ID)
run = run_replay(replay.start_replay(source, draft=DRAFT), base_url=URL)
print(json.dumps({"status": run.status, "error": run.error, "results": run.results, "latencies": run.latencies,
    "caller_turns": [t["text"] for t in run.transcript if t["role"] == "caller"], "call_id": run.call_id}))
"""


def shell(server: LiveServer, code: str, **values: object) -> str:
    for name, value in (("URL", server.url), *values.items()):
        code = code.replace(name, repr(value) if not isinstance(value, int) else str(value))
    return manage(server.env, "shell", "-c", code).strip().splitlines()[-1]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LiveServer:
    workdir = tmp_path_factory.mktemp("replay")
    live = start_server(workdir, migrated_database(workdir / "template.sqlite3"), "offline")
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def source_call(server: LiveServer) -> int:
    call_id = int(shell(server, SOURCE))
    assert server.query("SELECT recording_path FROM calls_call WHERE id = ?", call_id)[0][0]
    return call_id


def caller_texts(server: LiveServer, call_id: int) -> list[str]:
    rows = server.query("SELECT text FROM calls_turn WHERE call_id = ? AND role = 'caller' ORDER BY sequence", call_id)
    return [text for (text,) in rows]


def replay(server: LiveServer, call_id: int, draft: bool = False) -> dict:
    return json.loads(shell(server, REPLAY, CALL_ID=call_id, DRAFT=draft))


def test_replay_of_a_recorded_call(server: LiveServer, source_call: int) -> None:
    original = caller_texts(server, source_call)
    assert len(original) == 2
    result = replay(server, source_call)
    assert result["error"] == "" and result["status"] == "passed", result
    assert result["latencies"]["source"] == "recording"
    assert len(result["caller_turns"]) == len(original) == 2
    rows = result["results"]
    assert [r["turn"] for r in rows] == [0, 1, 2]
    assert rows[0]["caller_original"] is None and rows[0]["agent_original"] == rows[0]["agent_new"]
    assert [r["caller_original"] for r in rows[1:]] == original
    assert rows[1]["agent_original"] == rows[1]["agent_new"] == HOURS
    assert all(r["same"] and r["latency_new_ms"] is not None and r["latency_original_ms"] is not None for r in rows[1:])
    assert rows[1]["diff"] == [["same", HOURS]]
    assert result["call_id"] != source_call


def test_replay_without_recording_respeaks_the_transcript_and_shows_differences(
    server: LiveServer, source_call: int
) -> None:
    server.query("SELECT 1")  # the change below goes through the ORM, as an operator's edit would
    manage(
        server.env,
        "shell",
        "-c",
        f"from calls.models import Call; Call.objects.filter(pk={source_call}).update(recording_path='')\n"
        "from agents.models import FaqEntry\n"
        "FaqEntry.objects.filter(question__icontains='located').update(answer='We moved to 200 Main Street.')",
    )
    result = replay(server, source_call)
    assert result["latencies"]["source"] == "transcript"
    assert len(result["caller_turns"]) == 2
    assert result["status"] == "failed"
    rows = result["results"]
    assert [r["same"] for r in rows] == [True, True, False]
    assert rows[2]["agent_new"] == "We moved to 200 Main Street."
    assert ["added", "We moved to 200 Main Street."] in rows[2]["diff"]
    assert ["removed", "You will find us at 100 Market Street in San Francisco."] in rows[2]["diff"]


def test_save_as_scenario(server: LiveServer, source_call: int) -> None:
    code = (
        "from calls.models import Call\nfrom calls.scenarios import replay\n"
        f"s = replay.save_as_scenario(Call.objects.get(pk={source_call}), 'from call', must_say_hints=True)\n"
        "import json; print(json.dumps({'script': s.script, 'expectations': s.expectations}))"
    )
    saved = json.loads(manage(server.env, "shell", "-c", code).strip().splitlines()[-1])
    assert saved["script"] == [{"say": text} for text in caller_texts(server, source_call)]
    assert {"must_say": HOURS} in saved["expectations"]
