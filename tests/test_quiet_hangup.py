"""A caller who hangs up while the agent is talking ends the stream quietly: one INFO line, never an ERROR or a
traceback, and the agent turn stored as interrupted with what the caller heard.

ASGI servers tell a sender that the client is gone differently: uvicorn raises ClientDisconnected (an OSError)
from the send, or a RuntimeError once it has seen the close; daphne raises autobahn's Disconnected between the
peer's close frame and the lost connection. The first tests make the in-process socket behave like each; the last
runs daphne and uvicorn for real: callers drop their TCP connection mid-greeting, or send Plivo's ``stop`` and then
stop reading (the server's close handshake hangs, and daphne raises on every send in the meantime).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import pytest
import websockets
from asgiref.sync import sync_to_async
from autobahn.exception import Disconnected
from channels.testing import WebsocketCommunicator
from uvicorn.protocols.utils import ClientDisconnected

from calls.models import Turn
from streaming.simulator import wire
from tests.factories import make_agent
from tests.live_server import SCRIPTED, LiveServer, migrated_database, server_env
from tests.plivo_caller import PlivoCaller, answer
from tests.server_process import ROOT, free_port, server_command, wait_until_healthy
from tests.speech import synthesize_ulaw
from tests.test_engine_call import eventually
from tests.test_engine_turn_taking import LONG_REPLY
from voiceproject.asgi import application

GONE = {
    "uvicorn": lambda: ClientDisconnected(),
    "uvicorn-after-close": lambda: RuntimeError(
        "Unexpected ASGI message 'websocket.send', after sending 'websocket.close' or response already completed."
    ),
    "daphne": lambda: Disconnected("Attempt to send on a closed protocol"),
}


def like_a_server(gone: asyncio.Event, error) -> object:
    """The app behind a socket whose sends raise ``error()`` once ``gone`` is set (the TCP connection dropped)."""

    async def app(scope, receive, send):
        async def server_send(message):
            if gone.is_set():
                raise error()
            await send(message)

        return await application(scope, receive, server_send)

    return app


def agent_turn() -> tuple:
    return Turn.objects.filter(role="agent").values_list("text", "heard_text", "interrupted").get()


def problems(caplog) -> list[str]:
    gc.collect()  # "Task exception was never retrieved" is logged when the task is collected
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server", list(GONE))
async def test_a_caller_gone_mid_reply_ends_the_call_with_one_info_line(scripted, caplog, server):
    caplog.set_level(logging.INFO)
    scripted.transcripts, scripted.replies, scripted.ms_per_char = ["What are your opening hours?"], [LONG_REPLY], 40
    await sync_to_async(make_agent)(greeting="")
    gone = asyncio.Event()
    caller = PlivoCaller(await answer("call-1"), "call-1")
    caller.comm = WebsocketCommunicator(like_a_server(gone, GONE[server]), caller.comm.scope["path"])
    assert (await caller.connect())[0]
    await caller.start()
    await caller.send_audio(synthesize_ulaw("What are your opening hours?"))
    await caller.send_silence(300)
    await caller.wait_for(lambda: len(caller.events("playAudio")) > 25)
    gone.set()  # the caller hung up: the connection is gone, the server has not told the app yet
    await eventually(lambda: Turn.objects.filter(role="agent", interrupted=True).exists())
    for task in caller._tasks:
        task.cancel()
    await caller.comm.disconnect(code=1006)  # and now it does

    text, heard, interrupted = await sync_to_async(agent_turn)()
    assert (text, interrupted) == (LONG_REPLY, True)
    assert heard and LONG_REPLY.startswith(heard) and len(heard) < len(LONG_REPLY)
    assert problems(caplog) == []
    assert "Traceback" not in caplog.text
    ends = [r.getMessage() for r in caplog.records if r.name == "streaming.consumers"]
    assert ends == [f"Call call-1: the caller's socket is gone ({type(GONE[server]()).__name__}); the stream ends"]
    assert [r.levelname for r in caplog.records if r.name.startswith("streaming")] == ["INFO"]


# ---- the real servers ----

CALLS = 12
LONG_GREETING = "Hello! Thanks for calling Example Co, the home of examples. How can I help you today, caller?"


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    path = migrated_database(tmp_path_factory.mktemp("quiet") / "template.sqlite3")
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE agents_agent SET greeting = ?", (LONG_GREETING,))
    return path


def run_server(kind: str, workdir: Path, template: Path) -> LiveServer:
    db_path = workdir / "calls.sqlite3"
    shutil.copy(template, db_path)
    env = server_env(db_path, workdir / "media", VOICE_PROVIDER_FACTORY=SCRIPTED, LOG_LEVEL="INFO")
    port, log_path = free_port(), workdir / f"{kind}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            server_command(kind, port, die_with_parent=True),
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", db_path, log_path, process, env)
    if problem := wait_until_healthy(server.url, process, timeout=30):
        server.stop()
        raise RuntimeError(f"{kind} {problem}:\n{server.log()[-3000:]}")
    return server


async def hang_up_mid_greeting(server: LiveServer, n: int, number: str) -> websockets.ClientConnection:
    """After 40 to 95 frames of the greeting, an even call's TCP connection drops (no close frame); an odd one sends
    Plivo's ``stop`` and then reads nothing more (returned, to be dropped later)."""
    params = {"CallUUID": f"call-{n}", "From": "+14155550111", "To": number, "Direction": "inbound"}
    async with httpx.AsyncClient() as http:
        response = await http.post(server.url + "/plivo/answer/", data={**params, "CallStatus": "ringing"})
    url = ET.fromstring(response.content).find("Stream").text
    ws = await websockets.connect(url, compression=None)
    await ws.send(json.dumps({"sequenceNumber": 1, **wire.start_message(f"call-{n}", f"stream-{n}", "MA123")}))
    frames = 0
    while frames < 40 + 5 * n:
        frames += json.loads(await ws.recv())["event"] == "playAudio"
    if n % 2:
        await ws.send(json.dumps({"sequenceNumber": 2, "event": "stop"}))
        ws.transport.pause_reading()
    else:
        ws.transport.abort()
    return ws


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_callers_dropping_mid_greeting_under_a_real_server_leave_no_error(kind, template_db, tmp_path):
    server = await asyncio.to_thread(run_server, kind, tmp_path, template_db)
    try:
        [(number,)] = server.query("SELECT number FROM agents_phonenumber")
        sockets = await asyncio.gather(*(hang_up_mid_greeting(server, n, number) for n in range(CALLS)))
        for _ in range(100):
            ended = server.query("SELECT count(*) FROM calls_call WHERE stream_ended_at IS NOT NULL")[0][0]
            if ended == CALLS:
                break
            await asyncio.sleep(0.1)
        for ws in sockets:
            ws.transport.abort()
    finally:
        await asyncio.to_thread(server.stop)
    log = server.log()
    assert [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line] == []
    assert sum("the stream ends" in line and " INFO streaming.consumers" in line for line in log.splitlines()) == CALLS
    for n in range(CALLS):
        [(role, text, interrupted, heard)] = server.turns(f"call-{n}")
        assert (role, text, interrupted) == ("agent", LONG_GREETING, 1)
        assert heard and LONG_GREETING.startswith(heard) and len(heard) < len(LONG_GREETING)
