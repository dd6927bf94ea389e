"""A scenario's simulated caller (a persona and a goal, played by an LLM) through the real engine: a daphne server
with offline STT/TTS whose agent replies come from the OpenAI wire fake, and run_scenarios, whose simulated caller
asks the same fake (told apart by route: the agent's requests are streamed, the caller's carry its system prompt).
It talks until DONE or max_turns, after the script's lines; the request it sends is exact; no LLM, or a failing
one, is an error that says why. Plus the pure parts and the admin's validation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.urls import reverse

from calls.scenario_models import Scenario
from calls.scenarios import script
from streaming.scenarios.simulated_caller import SILENCE, messages_for, parse_reply, system_prompt
from tests.factories import make_agent
from tests.fakes.openai_server import ChatScript, OpenAIFake, last_user_text, streamed, system_contains
from tests.live_server import ROOT, LiveServer, migrated_database, start_server
from tests.server_process import manage

GREETING = "Hello! Thanks for calling Example Co. How can I help you today?"
HOURS = "We are open from nine to five."
WHERE = "You will find us on Market Street."
PERSONA = "Sam, a parent who drives to the shop after work."
GOAL = "Find out the opening hours and where the shop is."
SYSTEM = system_prompt(PERSONA, GOAL)
SETUP = f"""
from agents.models import Agent
from agents.versioning import record_version
from calls.models import Scenario
agent = Agent.objects.get(slug="demo")
record_version(agent)
Scenario.objects.create(agent=agent, name="persona", caller_persona={PERSONA!r}, caller_goal={GOAL!r}, max_turns=6,
    expectations=[{{"must_say": "nine to five"}}, {{"must_say": "market street"}}])
Scenario.objects.create(agent=agent, name="script-then-persona", script=[{{"say": "Where are you located?"}}],
    caller_persona={PERSONA!r}, caller_goal={GOAL!r}, max_turns=1, expectations=[{{"must_say": "nine to five"}}])
"""


def agent_reply(body: dict) -> ChatScript:
    """The agent's LLM: answers what the caller asked (robust to a preemptive request on a partial)."""
    heard = last_user_text(body)
    return ChatScript(content=HOURS if "hours" in heard else WHERE if "located" in heard else "Sorry?")


@pytest.fixture(scope="module")
def fake() -> OpenAIFake:
    with OpenAIFake() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory, fake: OpenAIFake) -> LiveServer:
    workdir = tmp_path_factory.mktemp("simulated-caller")
    database = migrated_database(workdir / "template.sqlite3")
    live = start_server(workdir, database, "simcaller", OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="sk-test")
    manage(live.env, "shell", "-c", SETUP)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def llm(fake: OpenAIFake) -> OpenAIFake:
    """The fake with only the agent's route: each test adds the caller's lines."""
    fake.routes.clear()
    fake.requests.clear()
    fake.route(streamed, answer=agent_reply)
    return fake


def run_scenarios(env: dict[str, str], url: str, name: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-W", "ignore", "manage.py", "run_scenarios", "--agent", "demo", "--scenario", name]
    return subprocess.run(
        [*command, "--url", url], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )  # fmt: skip


def last_run(server: LiveServer) -> dict:
    columns = ("status", "results", "transcript", "latencies", "error", "call_id")
    row = server.query(f"SELECT {', '.join(columns)} FROM calls_scenariorun ORDER BY id DESC LIMIT 1")[0]
    run = dict(zip(columns, row, strict=True))
    for key in ("results", "transcript", "latencies"):
        run[key] = json.loads(run[key])
    return run


def caller_requests(fake: OpenAIFake) -> list[dict]:
    is_caller = system_contains("playing a caller")
    return [r.body for r in fake.requests if isinstance(r.body, dict) and is_caller(r.body)]


def said(run: dict) -> list[tuple[str, str]]:
    return [(t["role"], t["text"]) for t in run["transcript"]]


def test_the_simulated_caller_talks_until_done(server: LiveServer, llm: OpenAIFake) -> None:
    lines = [ChatScript(content="What are your opening hours?"), ChatScript(content="Where are you located?")]
    llm.route(system_contains("playing a caller"), *lines, ChatScript(content="DONE"))
    done = run_scenarios(server.env, server.url, "persona")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS  persona" in done.stdout
    run = last_run(server)
    assert run["status"] == "passed" and run["error"] == ""
    assert said(run) == [
        ("agent", GREETING),
        ("caller", "what are your opening hours"),
        ("agent", HOURS),
        ("caller", "where are you located"),
        ("agent", WHERE),
    ]
    assert [(r["expectation"], r["passed"]) for r in run["results"]] == [
        ('must_say "nine to five"', True),
        ('must_say "market street"', True),
    ]
    assert run["latencies"]["simulated_caller"] == {"lines": 2, "max_turns": 6, "stopped": "said DONE"}
    assert len(run["latencies"]["voice_to_voice_ms"]) == 2
    first, second, third = caller_requests(llm)  # DONE was the third answer: no fourth request
    assert first == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": GREETING}],
        "temperature": 0.7,
        "max_tokens": 80,
    }
    assert f"Who you are: {PERSONA}\nYour goal: {GOAL}\n" in SYSTEM and "answer exactly DONE" in SYSTEM
    assert second["messages"][1:] == [
        {"role": "user", "content": GREETING},
        {"role": "assistant", "content": "what are your opening hours"},
        {"role": "user", "content": HOURS},
    ]
    assert third["messages"][4:] == [
        {"role": "assistant", "content": "where are you located"},
        {"role": "user", "content": WHERE},
    ]
    assert all(r.headers.get("authorization") == "Bearer sk-test" for r in llm.requests)


def test_script_lines_first_then_the_caller_until_max_turns(server: LiveServer, llm: OpenAIFake) -> None:
    lines = [ChatScript(content="What are your opening hours?"), ChatScript(content="Where are you located?")]
    route = llm.route(system_contains("playing a caller"), *lines)
    done = run_scenarios(server.env, server.url, "script-then-persona")
    assert done.returncode == 0, done.stdout + done.stderr
    run = last_run(server)
    assert run["status"] == "passed"
    assert said(run) == [
        ("agent", GREETING),
        ("caller", "where are you located"),
        ("agent", WHERE),
        ("caller", "what are your opening hours"),
        ("agent", HOURS),
    ]
    assert run["latencies"]["simulated_caller"] == {"lines": 1, "max_turns": 1, "stopped": "max_turns"}
    [request] = caller_requests(llm)  # max_turns 1: asked once, its second line never requested
    assert request["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": GREETING},
        {"role": "assistant", "content": "where are you located"},
        {"role": "user", "content": WHERE},
    ]
    assert [s.content for s in route.scripts] == ["Where are you located?"]


def test_a_failing_llm_ends_the_run_as_an_error_saying_why(server: LiveServer, llm: OpenAIFake) -> None:
    llm.route(system_contains("playing a caller"), ChatScript(status=401))
    done = run_scenarios(server.env, server.url, "persona")
    assert done.returncode == 2, done.stdout + done.stderr
    error = "The simulated caller's LLM failed: HTTP 401: Incorrect API key provided: sk-…"
    assert f"ERROR persona: {error}" in done.stdout
    run = last_run(server)
    assert run["status"] == "error" and run["error"] == error
    assert said(run) == [("agent", GREETING)]
    assert len(caller_requests(llm)) == 1  # a 401 is not retried
    status = server.query("SELECT status FROM calls_call WHERE id = ?", run["call_id"])[0][0]
    assert status not in ("ringing", "in-progress")


def test_without_an_llm_it_is_an_error_before_any_call(server: LiveServer) -> None:
    calls_before = server.query("SELECT COUNT(*) FROM calls_call")[0][0]
    env = {k: v for k, v in server.env.items() if not k.startswith("OPENAI_")}
    done = run_scenarios(env, server.url, "persona")
    assert done.returncode == 2, done.stdout + done.stderr
    error = (
        "A simulated caller needs an OpenAI-compatible LLM (OPENAI_API_KEY, or OPENAI_BASE_URL for a local server) "
        "where the scenarios run."
    )
    assert f"ERROR persona: {error}" in done.stdout
    run = last_run(server)
    assert (run["status"], run["error"], run["call_id"]) == ("error", error, None)
    assert server.query("SELECT COUNT(*) FROM calls_call")[0][0] == calls_before


# ---- the pure parts ----


def test_parse_reply_says_the_words_and_stops_at_done() -> None:
    assert parse_reply("What are your opening hours?") == ("What are your opening hours?", False)
    assert parse_reply("DONE") == ("", True)
    assert parse_reply(" done. ") == ("done.", False)  # only DONE in capitals ends the call
    assert parse_reply("Great, thanks. Bye! DONE.") == ("Great, thanks. Bye!", True)
    assert parse_reply('"*sighs* Is there   parking?" (impatient)') == ("Is there parking?", False)
    assert parse_reply("[pause]") == ("", False)
    long = parse_reply("word " * 100)[0]
    assert len(long) <= 300 and long.endswith("word")


def test_messages_for_the_caller_side_of_the_transcript() -> None:
    def turn(role: str, text: str, interrupted: bool = False, heard: str = "") -> dict:
        return {"role": role, "text": text, "interrupted": interrupted, "heard_text": heard}

    transcript = [
        turn("agent", "Hello!"),
        turn("agent", "How can I help?"),
        turn("caller", "what are your opening hours"),
        turn("agent", "We are open from nine to five every day.", interrupted=True, heard="We are open from nine"),
        turn("caller", "where are you located"),
        turn("agent", "", interrupted=True, heard=""),
    ]
    assert messages_for("SYS", transcript) == [
        {"role": "system", "content": "SYS"},
        {"role": "user", "content": "Hello! How can I help?"},
        {"role": "assistant", "content": "what are your opening hours"},
        {"role": "user", "content": "We are open from nine"},
        {"role": "assistant", "content": "where are you located"},
        {"role": "user", "content": SILENCE},
    ]
    assert messages_for("SYS", []) == [{"role": "system", "content": "SYS"}, {"role": "user", "content": SILENCE}]


def test_a_scenario_needs_a_caller() -> None:
    assert script.validate_caller([], PERSONA, GOAL) == []
    assert script.validate_caller([{"say": "Hi"}], "", "") == []
    assert script.validate_caller([], "", " ") == [
        "A scenario needs a caller: script lines, or a persona and a goal for a simulated caller (LLM)."
    ]
    assert script.validate_caller([{"say": "Hi"}], PERSONA, "") == [
        "A simulated caller needs both a persona and a goal: add the goal."
    ]
    assert script.validate_caller([], "", GOAL) == [
        "A simulated caller needs both a persona and a goal: add the persona."
    ]


@pytest.mark.django_db
def test_admin_takes_a_persona_scenario_and_refuses_one_without_a_caller(client) -> None:
    from django.contrib.auth.models import User

    agent = make_agent()
    client.force_login(User.objects.create_superuser("root", password=None))
    url = reverse("admin:calls_scenario_add")
    form = {"agent": agent.pk, "name": "sam", "max_turns": 4, "script": "[]", "expectations": "[]"}
    form |= {"runs-TOTAL_FORMS": "0", "runs-INITIAL_FORMS": "0"}
    page = client.post(url, form | {"caller_persona": "", "caller_goal": ""}).content.decode()
    assert "A scenario needs a caller: script lines, or a persona and a goal for a simulated caller (LLM)." in page
    page = client.post(url, form | {"caller_persona": PERSONA, "caller_goal": ""}).content.decode()
    assert "A simulated caller needs both a persona and a goal: add the goal." in page
    assert not Scenario.objects.exists()
    response = client.post(url, form | {"caller_persona": PERSONA, "caller_goal": GOAL})
    assert response.status_code == 302
    assert list(Scenario.objects.values_list("script", "caller_persona", "caller_goal", "max_turns")) == [
        ([], PERSONA, GOAL, 4)
    ]
    listing = client.get(reverse("admin:calls_scenario_changelist")).content.decode()
    assert "simulated caller (≤ 4 turns)" in listing
