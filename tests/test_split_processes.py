"""The production topology's split (README "Production topology"): Plivo's webhooks go to a "web" process, the
audio sockets to an "audio" process, one PostgreSQL database and Redis behind both. Here there is no proxy: the
answer XML's stream URL points at the web process (the host the answer webhook reached), and the test routes it to
the audio process the way the proxy would (``/ws/plivo/`` → audio upstream). Each process's daphne access log
shows what it actually served."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest

from streaming.simulator import client as simulator
from streaming.simulator.config import CallScript
from streaming.simulator.plivo_http import StreamInstruction, routed_to
from tests.live_server import SCRIPTED, LiveServer, manage, start_daphne
from tests.server_process import server_env
from tests.shared_db import scratch_postgres_database

AUTH_TOKEN = "split-processes-auth-token-0123456789"
SAID = "What are your opening hours?"
GREETING = "Hello! Thanks for calling Example Co. How can I help you today?"  # seed_demo's agent
REPLY = f"You said {SAID}. What else can I do for you?"  # the scripted LLM's echo (tests/fakes/scripted.py)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database("split") as url:
        yield url


@pytest.fixture
def web_and_audio(tmp_path, postgres_url, redis_url) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Production settings (DEBUG off, one secret key: the audio process verifies the stream tokens the web process
    signs; signed webhooks), one media directory, the pool sizes the README gives each kind."""
    common = server_env(
        postgres_url,
        tmp_path / "media",
        debug=False,
        REDIS_URL=redis_url,
        PLIVO_AUTH_TOKEN=AUTH_TOKEN,
        VOICE_PROVIDER_FACTORY=SCRIPTED,
        SCRIPTED_TRANSCRIPTS=SAID,
        DJANGO_SUPERUSER_PASSWORD="split-processes-password-123",
    )
    manage(common, "migrate", "--noinput")
    manage(common, "seed_demo")
    servers = []
    try:
        servers.append(start_daphne(tmp_path, "web", common))
        servers.append(start_daphne(tmp_path, "audio", common | {"DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "3"}))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def query(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as db:
        return db.execute(sql, params).fetchall()


def turns(url: str, call_uuid: str) -> list[tuple[str, str]]:
    return query(
        url,
        "SELECT t.role, t.text FROM calls_turn t JOIN calls_call c ON t.call_id = c.id"
        " WHERE c.call_uuid = %s ORDER BY t.sequence",
        call_uuid,
    )


def route_streams_to(audio: LiveServer, answered: list[str]):
    """The simulator's parse_answer, with the stream URL sent to ``audio`` like the proxy's ``/ws/plivo/``
    location would; the URL the answer XML gave is kept in ``answered``."""
    parse = simulator.parse_answer

    def routed(xml: str) -> StreamInstruction:
        stream = parse(xml)
        answered.append(stream.url)
        return routed_to(stream, audio.url)

    return routed


@pytest.mark.timeout(120)
async def test_webhooks_on_web_process_audio_socket_on_audio_process(web_and_audio, postgres_url, monkeypatch):
    web, audio = web_and_audio
    answered: list[str] = []
    monkeypatch.setattr(simulator, "parse_answer", route_streams_to(audio, answered))
    call_uuid = str(uuid.uuid4())
    call = asyncio.create_task(
        simulator.run_call(
            CallScript(
                to="+14155550100",
                turns=[SAID],
                base_url=web.url,  # answer, stream-status and hangup webhooks: the web process only
                auth_token=AUTH_TOKEN,
                call_uuid=call_uuid,
                hang_up_after_ms=500,
                max_seconds=60,
            )
        )
    )
    # While the call is on: the caller's turn and the reply are stored (by the audio process), the call is open.
    expected = [("agent", GREETING), ("caller", SAID), ("agent", REPLY)]
    for _ in range(300):
        if turns(postgres_url, call_uuid) == expected or call.done():
            break
        await asyncio.sleep(0.1)
    assert turns(postgres_url, call_uuid) == expected
    assert query(postgres_url, "SELECT status, ended_at FROM calls_call WHERE call_uuid = %s", call_uuid) == [
        ("in-progress", None)
    ]

    result = await asyncio.wait_for(call, 60)
    assert result.ended_by == "caller" and not result.error
    stream_path = urlsplit(answered[0]).path
    assert urlsplit(answered[0]).netloc == urlsplit(web.url).netloc and stream_path.startswith("/ws/plivo/")
    assert result.stream_url == audio.url.replace("http://", "ws://") + stream_path
    assert result.greeting_ms is not None and result.frames_received > 0  # the greeting came over audio's socket
    assert result.hangup_status == 200 and result.status_callbacks == [200, 200]
    # The hangup webhook (to the web process) closed the call.
    assert query(
        postgres_url,
        "SELECT status, hangup_cause, ended_at IS NOT NULL, stream_ended_at IS NOT NULL FROM calls_call"
        " WHERE call_uuid = %s",
        call_uuid,
    ) == [("completed", "NORMAL_CLEARING", True, True)]
    assert turns(postgres_url, call_uuid) == expected

    web.stop()
    audio.stop()  # the access logs are complete
    web_log, audio_log = web.access_log(), audio.access_log()
    plivo_on_web = [(method, path, status) for method, path, status in web_log if path.startswith("/plivo/")]
    assert plivo_on_web == [
        ("POST", "/plivo/answer/", "200"),
        ("POST", "/plivo/stream-status/", "200"),
        ("POST", "/plivo/stream-status/", "200"),
        ("POST", "/plivo/hangup/", "200"),
    ]
    assert not [entry for entry in web_log if entry[0].startswith("WS") or entry[1].startswith("/ws/")]
    assert [(method, path) for method, path, _ in audio_log if method.startswith("WS")] == [
        ("WSCONNECTING", stream_path),
        ("WSCONNECT", stream_path),
        ("WSDISCONNECT", stream_path),
    ]
    assert [(method, path) for method, path, _ in audio_log if not method.startswith("WS")] == [("GET", "/healthz")]
    assert "Traceback" not in web.log() + audio.log()
