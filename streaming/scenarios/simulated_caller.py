"""The simulated caller of a scenario: an LLM playing the scenario's persona towards its goal, one short line at a
time, until it answers DONE or has said ``max_turns`` lines.

Before each line it reads what the server stored of the call so far (calls.scenarios.runs.transcript_of on the
prepared Call: the agent's turns, as said or as heard when interrupted, and the caller's, as the agent's STT heard
them), waiting briefly for the agent's last turn (stored once the simulator acknowledged its checkpoint). The lines
are placed with the simulator (streaming/simulator/live_caller.py). Needs an OpenAI-compatible server
(streaming/providers/openai/client.py); its failure ends the run as an error that says why.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connections

from calls.models import Call
from calls.scenario_models import Scenario
from calls.scenarios.runs import transcript_of
from calls.scenarios.script import CallerPlan
from streaming.providers.openai.client import create_client
from streaming.scenarios.caller import PlacementFailed, call_script, observed
from streaming.simulator.client import run_call
from streaming.simulator.config import CallerTurn
from streaming.simulator.plivo_http import SimulatorError

log = logging.getLogger(__name__)

NEEDS_LLM = (
    "A simulated caller needs an OpenAI-compatible LLM (OPENAI_API_KEY, or OPENAI_BASE_URL for a local server) "
    "where the scenarios run."
)
DEFAULT_MODEL = "gpt-4o-mini"
REQUEST_TIMEOUT_S = 15.0  # one request to the LLM
ASK_TIMEOUT_S = 32.0  # one line, retry included
TURN_WAIT_S = 3.0  # for the agent's last turn to be stored
TEMPERATURE = 0.7
MAX_TOKENS = 80
MAX_LINE_CHARS = 300
SILENCE = "(silence: the agent says nothing)"
SYSTEM_PROMPT = """You are testing a phone agent by playing a caller. The user messages are what the agent says to \
you on the phone; you answer as the caller.

Who you are: {persona}
Your goal: {goal}

Say one short, natural sentence at a time: only the words you speak aloud, no stage directions, no quotes, no \
lists. Stay in character; never say you are an AI or a test. When your goal is met or the call is over (the agent \
said goodbye or cannot help), answer exactly DONE."""
DONE_AT_END = re.compile(r"\bDONE\W*$")
STAGE_DIRECTIONS = re.compile(r"\*[^*]*\*|\[[^\]]*\]|\([^)]*\)")
SECRET = re.compile(r"\b(sk|key)-[\w*.-]{4,}", re.IGNORECASE)


class CallerFailed(Exception):
    """The simulated caller's LLM failed (the message says why, without secrets)."""


def system_prompt(persona: str, goal: str) -> str:
    return SYSTEM_PROMPT.format(persona=persona.strip(), goal=goal.strip())


def messages_for(system: str, transcript: list[dict]) -> list[dict[str, str]]:
    """The chat so far from the caller's side: the agent's turns as ``user``, the caller's as ``assistant`` (one
    message per speaker change), ending with the agent's (or a note that it said nothing)."""
    messages = [{"role": "system", "content": system}]
    for turn in transcript:
        role = {"agent": "user", "caller": "assistant"}.get(turn["role"])
        text = " ".join(str((turn["heard_text"] if turn["interrupted"] else turn["text"]) or "").split())
        if role is None or not text:
            continue
        if messages[-1]["role"] == role:
            messages[-1]["content"] += " " + text
        else:
            messages.append({"role": role, "content": text})
    if messages[-1]["role"] != "user":
        messages.append({"role": "user", "content": SILENCE})
    return messages


def parse_reply(content: str) -> tuple[str, bool]:
    """The line to say (stage directions, quotes and extra spaces removed; at most MAX_LINE_CHARS) and whether the
    caller is done (the reply ends with DONE; anything before it is still said)."""
    text = " ".join(STAGE_DIRECTIONS.sub(" ", content).split()).strip("\"'“”‘’ ")
    done = DONE_AT_END.search(text)
    if done:
        text = text[: done.start()].strip("\"'“”‘’ ")
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS].rsplit(" ", 1)[0]
    return text, done is not None


def describe(exc: Exception) -> str:
    """Why a request failed, in words, without secrets."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        message = str(body.get("message") or exc.message)
        why = f"HTTP {exc.status_code}: {message}"
    elif isinstance(exc, openai.APITimeoutError | TimeoutError):
        why = f"no answer within {ASK_TIMEOUT_S:.0f} s"
    elif isinstance(exc, openai.APIConnectionError):
        why = "cannot connect to the LLM server"
    else:
        why = f"{type(exc).__name__}: {exc}"
    return SECRET.sub(lambda m: m.group(1) + "-…", why)


class SimulatedCaller:
    """One run's caller: ``next_turn`` for the simulator; ``lines``, ``stopped`` and ``failure`` after the call."""

    def __init__(self, call: Call, *, persona: str, goal: str, max_turns: int, model: str) -> None:
        self.call, self.max_turns, self.model = call, max_turns, model or DEFAULT_MODEL
        self.system = system_prompt(persona, goal)
        self.lines = 0  # lines said
        self.stopped = ""  # "said DONE" or "max_turns" once it stopped by itself
        self.failure = ""
        self.seen_agent_turns = 0
        self.client: Any = None
        self.db = ThreadPoolExecutor(1, thread_name_prefix="simulated-caller-db")  # one connection, closed at the end

    def summary(self) -> dict[str, Any]:
        return {"lines": self.lines, "max_turns": self.max_turns, "stopped": self.stopped or "the call ended"}

    async def next_turn(self, index: int) -> CallerTurn | None:
        """The caller's next line, None when done (DONE, or ``max_turns`` lines said). Raises CallerFailed."""
        if self.stopped:
            return None
        if self.lines >= self.max_turns:
            self.stopped = "max_turns"
            return None
        messages = messages_for(self.system, await self.transcript())
        try:
            async with asyncio.timeout(ASK_TIMEOUT_S):
                content = await self.ask(messages)
        except Exception as exc:
            self.failure = describe(exc)
            log.warning("The simulated caller of call %s failed: %s", self.call.pk, self.failure)
            raise CallerFailed(self.failure) from None
        line, done = parse_reply(content)
        if done:
            self.stopped = "said DONE"
        elif not line:
            self.failure = "the LLM answered with no words"
            raise CallerFailed(self.failure)
        if not line:
            return None
        self.lines += 1
        return CallerTurn(text=line)

    async def ask(self, messages: list[dict[str, str]]) -> str:
        import openai

        if self.client is None:
            self.client = create_client(openai.AsyncOpenAI, timeout=REQUEST_TIMEOUT_S, max_retries=1)
        response = await self.client.chat.completions.create(
            model=self.model, messages=messages, temperature=TEMPERATURE, max_tokens=MAX_TOKENS
        )
        return str(response.choices[0].message.content or "") if response.choices else ""

    async def transcript(self) -> list[dict]:
        """The stored turns, once the agent's latest turn is there (or after TURN_WAIT_S)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TURN_WAIT_S
        while True:
            turns = await loop.run_in_executor(self.db, transcript_of, self.call)
            agent_turns = sum(t["role"] == "agent" for t in turns)
            fresh = agent_turns > self.seen_agent_turns and turns[-1]["role"] == "agent"  # so turns is not empty
            if fresh or loop.time() >= deadline:
                self.seen_agent_turns = agent_turns
                return turns
            await asyncio.sleep(0.1)

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.close()
        await asyncio.get_running_loop().run_in_executor(self.db, connections.close_all)
        self.db.shutdown(wait=False)


def place_simulated(
    scenario: Scenario, call: Call, snapshot: dict, plan: CallerPlan, *, base_url: str, auth_token: str
) -> dict:
    """Place the prepared ``call`` (blocking): ``plan``'s turns (the script), then the simulated caller's. The same
    result as streaming.scenarios.caller.place, with the LLM's failure as ``error`` and ``simulated_caller``: its
    ``summary()``."""
    brain = SimulatedCaller(
        call,
        persona=scenario.caller_persona,
        goal=scenario.caller_goal,
        max_turns=scenario.max_turns,
        model=str(snapshot.get("llm_model") or ""),
    )
    config = call_script(
        call_uuid=call.call_uuid,
        to=call.to_number,
        caller=call.from_number,
        plan=plan,
        base_url=base_url,
        auth_token=auth_token,
        extra_seconds=45.0 * brain.max_turns,
        next_turn=brain.next_turn,
    )

    async def converse() -> Any:
        try:
            return await run_call(config)
        finally:
            await brain.aclose()

    try:
        result = asyncio.run(converse())
    except SimulatorError as exc:
        raise PlacementFailed(str(exc)) from None
    seen = observed(result) | {"simulated_caller": brain.summary()}
    if brain.failure:
        seen |= {"ended_by": "error", "error": f"The simulated caller's LLM failed: {brain.failure}"}
    return seen
