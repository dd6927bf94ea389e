"""A Redis blip neither ends nor silences a call: a real daphne server whose channel layer is our own redis-server,
stopped mid-call and started again. The call goes on and stores every turn; a call answered while Redis is down
gets its greeting and answers; after the restart, the live page and the operator's hang-up work again.

The server takes unsigned webhooks (DEBUG, no PLIVO_AUTH_TOKEN): this module is about the stream socket and the
channel layer. The signature check's nonce store (the Redis cache) being down is test_signed_answer_while_redis_is_down:
a validly signed answer is still taken."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from streaming.simulator.client import run_call
from streaming.simulator.config import CallScript
from streaming.simulator.report import CallResult, TranscriptEntry
from tests.conftest import REQUIRE_SERVICES
from tests.live_server import SCRIPTED, LiveServer, free_port, manage, server_env, start_daphne

DEMO = "+14155550100"
PASSWORD = "redis-outage-password-123"
QUESTIONS = ["What are your opening hours?", "Is there parking?", "Thank you"]


class RedisProcess:
    """redis-server on a free port, no persistence; ``stop`` kills it (SIGKILL), ``start`` brings it back."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = workdir / "redis.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self._pong():
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(5)
            self.process = None

    def _pong(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture(scope="module")
def redis_process(tmp_path_factory) -> Iterator[RedisProcess]:
    if shutil.which("redis-server") is None:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but redis-server is not on PATH")
        pytest.skip("redis-server is not on PATH: this test runs its own Redis to stop and restart")
    redis = RedisProcess(tmp_path_factory.mktemp("redis"))
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, redis_process: RedisProcess) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("redis-outage")
    db_path = workdir / "server.sqlite3"
    env = server_env(
        db_path,
        workdir / "media",
        REDIS_URL=redis_process.url,
        VOICE_PROVIDER_FACTORY=SCRIPTED,
        SCRIPTED_TRANSCRIPTS="|".join(QUESTIONS),
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
        LOG_LEVEL="INFO",
    )
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    live = start_daphne(workdir, "server", env, db_path)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def redis_up(redis_process: RedisProcess) -> Iterator[RedisProcess]:
    if redis_process.process is None:
        redis_process.start()
    yield redis_process
    if redis_process.process is None:
        redis_process.start()


def script(server: LiveServer, call_uuid: str, turns: list[str], **options) -> CallScript:
    options = {"silence_ms": 300, "max_seconds": 60, "hang_up_after_ms": 300} | options
    return CallScript(to=DEMO, turns=turns, base_url=server.url, call_uuid=call_uuid, **options)


class Staff:
    """A logged-in staff browser: the live page's socket and the hang-up button."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=10)
        page = self.http.get("/calls/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        form = {"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}
        assert self.http.post("/calls/login/?next=/calls/", data=form).status_code == 302

    def live_socket(self, call_uuid: str):
        """As the page opens it (static/calls/live.js): with the last turn it has shown, none here."""
        url = self.server.url.replace("http", "ws") + f"/ws/calls/{call_uuid}/live/?after=0"
        headers = {"Cookie": f"sessionid={self.http.cookies['sessionid']}", "Origin": self.server.url}
        return websockets.connect(url, additional_headers=headers)

    def hang_up(self, call_pk: int) -> int:
        page = self.http.get(f"/calls/{call_pk}/live/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        form = {"csrfmiddlewaretoken": token}
        return self.http.post(f"/calls/{call_pk}/hangup/", data=form, headers={"Referer": self.server.url}).status_code


async def next_event(live, kind: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(await asyncio.wait_for(live.recv(), max(0.1, deadline - time.monotonic())))
        if event["kind"] == kind:
            return event["data"]


def roles_and_caller_texts(server: LiveServer, call_uuid: str) -> list[tuple[str, str]]:
    return [(role, text if role == "caller" else "") for role, text, _, _ in server.turns(call_uuid)]


EXPECTED_TURNS = [("agent", ""), *[turn for q in QUESTIONS for turn in (("caller", q), ("agent", ""))]]


@pytest.mark.timeout(180)
async def test_redis_stopped_mid_call_neither_ends_nor_silences_it(server, redis_up):
    call_uuid = f"outage-{uuid.uuid4().hex[:8]}"
    outage: list[asyncio.Task] = []

    def on_event(entry: TranscriptEntry) -> None:
        if entry.kind == "caller-stop" and entry.data.get("turn") == 1:
            outage.append(asyncio.get_running_loop().create_task(asyncio.to_thread(redis_up.stop)))
        if entry.kind == "caller-stop" and entry.data.get("turn") == 2:  # the outage spans two answers
            outage.append(asyncio.get_running_loop().create_task(asyncio.to_thread(redis_up.start)))

    staff = await asyncio.to_thread(Staff, server)
    call = asyncio.create_task(run_call(script(server, call_uuid, QUESTIONS, hang_up_after_ms=None, on_event=on_event)))
    await wait_for_call_row(server, call_uuid)
    call_pk = server.call(call_uuid)["id"]
    await wait_until(lambda: len(server.turns(call_uuid)) == len(EXPECTED_TURNS) and len(outage) == 2, 60)
    await asyncio.gather(*outage)
    async with staff.live_socket(call_uuid) as live:  # after the restart: the live page and the hang-up work
        shown = [json.loads(await asyncio.wait_for(live.recv(), 10)) for _ in EXPECTED_TURNS]  # the turns so far
        assert [(e["data"]["role"], e["data"]["text"] if e["data"]["role"] == "caller" else "") for e in shown] == (
            EXPECTED_TURNS
        )
        assert await asyncio.to_thread(staff.hang_up, call_pk) == 302
        result: CallResult = await asyncio.wait_for(call, 30)
        assert await next_event(live, "ended") == {}
    assert (result.ended_by, result.close_code) == ("server", 1000)
    assert len(result.answers) == len(QUESTIONS) and result.greeting_ms is not None
    assert roles_and_caller_texts(server, call_uuid) == EXPECTED_TURNS
    assert server.events(call_uuid, "hangup") == [{"reason": "operator", "result": "stream-closed"}]
    log = server.log()
    # the process's one control receiver (calls/live_control.py): one line for the outage, one for its end
    assert log.count("Channel layer unavailable (control of this process's calls)") == 1
    assert log.count("Channel layer available again (control of this process's calls)") == 1
    assert "Traceback" not in log


@pytest.mark.timeout(180)
async def test_a_call_answered_while_redis_is_down_is_answered_and_the_next_one_after_restart_works(server, redis_up):
    await asyncio.to_thread(redis_up.stop)
    during = f"during-{uuid.uuid4().hex[:8]}"
    result = await asyncio.wait_for(run_call(script(server, during, QUESTIONS[:1])), 60)
    assert result.greeting_ms is not None and len(result.answers) == 1
    assert (result.ended_by, result.close_code) == ("caller", 1000)
    assert roles_and_caller_texts(server, during) == EXPECTED_TURNS[:3]
    await asyncio.to_thread(redis_up.start)

    after = f"after-{uuid.uuid4().hex[:8]}"  # the first call after the restart: no stale connection kills it
    staff = await asyncio.to_thread(Staff, server)
    call = asyncio.create_task(run_call(script(server, after, QUESTIONS[:1], hang_up_after_ms=None)))
    await wait_for_call_row(server, after)
    async with staff.live_socket(after) as live:
        while (turn := await next_event(live, "turn"))["role"] != "caller":
            assert turn["role"] == "agent"  # the greeting (live, or sent again for ?after=0)
        assert turn["text"] == QUESTIONS[0]
        assert await asyncio.to_thread(staff.hang_up, server.call(after)["id"]) == 302
        result = await asyncio.wait_for(call, 30)
        assert await next_event(live, "ended") == {}
    assert (result.ended_by, result.close_code) == ("server", 1000)
    assert server.events(after, "hangup") == [{"reason": "operator", "result": "stream-closed"}]
    assert "Live page socket closed" not in server.log()


async def wait_for_call_row(server: LiveServer, call_uuid: str) -> None:
    await wait_until(lambda: bool(server.call(call_uuid)), 20)


async def wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(condition):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@pytest.mark.django_db
def test_signed_answer_while_redis_is_down(client, settings):
    from tests.factories import make_agent
    from tests.plivo_signing import plivo_signature

    make_agent()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        }
    }
    settings.PLIVO_AUTH_TOKEN = "token"
    params = {"CallUUID": "down-1", "From": "14155550111", "To": "14155550100", "Direction": "inbound"}
    headers = plivo_signature("POST", "http://testserver/plivo/answer/", params, "token")
    response = client.post("/plivo/answer/", params, headers=headers)
    assert response.status_code == 200
