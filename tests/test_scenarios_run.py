"""Scenarios through the real engine (offline providers, no keys): pass, fail with the failed expectation named
(the draft changed, the published version not), run_scenarios' exit codes and its JUnit report."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.live_server import ROOT, LiveServer, free_port, migrated_database, start_server
from tests.server_process import manage

HOURS = "We are open Monday to Friday from nine in the morning to six in the evening."
SETUP = """
from agents.models import Agent, FaqEntry
from agents.versioning import record_version
from calls.models import Scenario
agent = Agent.objects.get(slug="demo")
Scenario.objects.create(agent=agent, name="hours", script=[{"say": "What are your opening hours?"},
    {"say": "Goodbye"}], expectations=[{"must_say": "nine in the morning"}, {"must_not_say": "/sorry|didn't catch/"},
    {"ends": "hangup"}, {"latency_p95_ms": 8000}])
record_version(agent)  # the FAQ seed_demo added after creating the agent
agent.drafts = True
agent.save()
FaqEntry.objects.filter(agent=agent, question__icontains="hours").update(answer="We open at ten.")
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> LiveServer:
    workdir = tmp_path_factory.mktemp("scenarios")
    live = start_server(workdir, migrated_database(workdir / "template.sqlite3"), "offline")
    manage(live.env, "shell", "-c", SETUP)
    try:
        yield live
    finally:
        live.stop()


def run_scenarios(server: LiveServer, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-W", "ignore", "manage.py", "run_scenarios", "--agent", "demo", *args]
    return subprocess.run(command, cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=240)


def last_run(server: LiveServer) -> dict:
    columns = ("status", "draft", "results", "transcript", "latencies", "error", "call_id", "agent_version_id")
    row = server.query(f"SELECT {', '.join(columns)} FROM calls_scenariorun ORDER BY id DESC LIMIT 1")[0]
    run = dict(zip(columns, row, strict=True))
    for key in ("results", "transcript", "latencies"):
        run[key] = json.loads(run[key])
    return run


def junit_cases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def test_published_version_passes(server: LiveServer, tmp_path: Path) -> None:
    done = run_scenarios(server, "--url", server.url, "--junit", str(tmp_path / "out.xml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  hours" in done.stdout and "1 passed, 0 failed, 0 errors" in done.stdout
    run = last_run(server)
    assert run["status"] == "passed" and run["draft"] == 0 and run["error"] == ""
    assert [(r["expectation"], r["passed"]) for r in run["results"]] == [
        ('must_say "nine in the morning"', True),
        ('must_not_say "/sorry|didn\'t catch/"', True),
        ("ends hangup", True),
        ("latency p95 < 8000 ms", True),
    ]
    assert [t["role"] for t in run["transcript"]] == ["agent", "caller", "agent", "caller", "agent"]
    assert run["transcript"][2]["text"] == HOURS
    assert len(run["latencies"]["voice_to_voice_ms"]) == 2 and run["latencies"]["p95_ms"] < 8000
    published = server.query("SELECT published_version_id FROM agents_agent WHERE slug = 'demo'")[0][0]
    assert run["agent_version_id"] == published
    call = server.query("SELECT call_uuid, in_memory, agent_version FROM calls_call WHERE id = ?", run["call_id"])[0]
    assert call[0].startswith("scenario-") and call[1] == 0
    [case] = junit_cases(tmp_path / "out.xml")
    assert case.get("name") == "hours" and case.get("classname") == "scenarios.demo"
    assert case.find("failure") is None and case.find("error") is None
    assert HOURS in (case.findtext("system-out") or "")


def test_the_changed_draft_fails_naming_the_expectation(server: LiveServer, tmp_path: Path) -> None:
    done = run_scenarios(server, "--url", server.url, "--draft", "--junit", str(tmp_path / "out.xml"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  hours" in done.stdout
    assert 'must_say "nine in the morning": the agent never said it' in done.stdout
    assert "0 passed, 1 failed, 0 errors" in done.stderr
    run = last_run(server)
    assert run["status"] == "failed" and run["draft"] == 1
    assert [r["expectation"] for r in run["results"] if not r["passed"]] == ['must_say "nine in the morning"']
    assert "We open at ten." in [t["text"] for t in run["transcript"]]
    [case] = junit_cases(tmp_path / "out.xml")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == 'must_say "nine in the morning": the agent never said it'
    suite = ET.parse(tmp_path / "out.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("1", "1", "0")


def test_an_unreachable_server_is_an_error(server: LiveServer, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = run_scenarios(server, "--url", url, "--junit", str(tmp_path / "out.xml"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ERROR hours: The simulated call failed: cannot connect to" in done.stdout
    run = last_run(server)
    assert run["status"] == "error" and "cannot connect" in run["error"]
    [case] = junit_cases(tmp_path / "out.xml")
    error = case.find("error")
    assert error is not None and "cannot connect" in (error.get("message") or "")


def test_usage_errors_exit_2(server: LiveServer) -> None:
    unknown = run_scenarios(server, "--url", server.url, "--scenario", "nope")
    assert unknown.returncode == 2 and "has no scenario named nope" in unknown.stderr
    command = [sys.executable, "-W", "ignore", "manage.py", "run_scenarios", "--agent", "nobody"]
    done = subprocess.run(command, cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--agent 'nobody' is no agent" in done.stderr


def test_without_url_it_starts_its_own_server(server: LiveServer) -> None:
    done = run_scenarios(server)  # daphne on a free port, same settings, so the same SQLite file
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  hours" in done.stdout
    assert last_run(server)["status"] == "passed"
