"""Scale-out: two server processes share Redis and PostgreSQL. The call's socket lives on one, the live page on the
other; the page shows the call's turns and its hang-up button ends the call on the first."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
import websockets

from streaming.simulator.client import run_call
from streaming.simulator.config import CallScript
from tests.live_server import SCRIPTED, LiveServer, manage, server_env, start_daphne
from tests.shared_db import scratch_postgres_database

PASSWORD = "scale-out-password-123"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_postgres_database("scaleout") as url:
        yield url


@pytest.fixture
def two_servers(tmp_path, postgres_url, redis_url) -> Iterator[tuple[LiveServer, LiveServer]]:
    env = server_env(
        tmp_path / "unused.sqlite3",
        tmp_path / "media",
        DATABASE_URL=postgres_url,
        REDIS_URL=redis_url,
        VOICE_PROVIDER_FACTORY=SCRIPTED,
        SCRIPTED_TRANSCRIPTS="What are your opening hours?",
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    servers = []
    try:
        for name in ("a", "b"):
            servers.append(start_daphne(tmp_path, name, env))
        yield servers[0], servers[1]
    finally:
        for server in servers:
            server.stop()


def staff_session(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    page = client.get("/calls/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = client.post(
        "/calls/login/?next=/calls/", data={"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert done.status_code == 302 and "sessionid" in client.cookies
    return client


def query(url: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(url) as db:
        return db.execute(sql, params).fetchall()


@pytest.mark.timeout(120)
async def test_live_page_on_another_process_sees_turns_and_hangs_up(two_servers, postgres_url):
    server_a, server_b = two_servers
    call_uuid = str(uuid.uuid4())
    call = asyncio.create_task(
        run_call(
            CallScript(
                to="+14155550100",
                turns=["What are your opening hours?"],
                base_url=server_a.url,
                call_uuid=call_uuid,
                hang_up_after_ms=None,
                max_seconds=60,
            )
        )
    )
    for _ in range(100):
        if query(postgres_url, "SELECT 1 FROM calls_call WHERE call_uuid = %s", call_uuid):
            break
        await asyncio.sleep(0.1)
    (call_pk,) = query(postgres_url, "SELECT id FROM calls_call WHERE call_uuid = %s", call_uuid)[0]
    browser = await asyncio.to_thread(staff_session, server_b.url)
    cookie = f"sessionid={browser.cookies['sessionid']}"
    ws_url = server_b.url.replace("http", "ws") + f"/ws/calls/{call_uuid}/live/"
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": server_b.url}) as live:
        seen: list[dict] = []
        while not any(e["kind"] == "turn" and e["data"]["role"] == "caller" for e in seen):
            seen.append(json.loads(await asyncio.wait_for(live.recv(), 30)))
        caller_turn = next(e["data"] for e in seen if e["kind"] == "turn" and e["data"]["role"] == "caller")
        assert caller_turn["text"] == "What are your opening hours?"

        page = await asyncio.to_thread(browser.get, f"/calls/{call_pk}/live/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        hangup = await asyncio.to_thread(
            browser.post,
            f"/calls/{call_pk}/hangup/",
            data={"csrfmiddlewaretoken": token},
            headers={"Referer": server_b.url},
        )
        assert hangup.status_code in (200, 302)
        result = await asyncio.wait_for(call, 30)
        while not any(e["kind"] == "ended" for e in seen):
            seen.append(json.loads(await asyncio.wait_for(live.recv(), 30)))
    assert result.ended_by == "server"
    kinds = [
        kind
        for (kind,) in query(
            postgres_url,
            "SELECT kind FROM calls_callevent e JOIN calls_call c "
            "ON c.id = e.call_id WHERE c.call_uuid = %s ORDER BY e.id",
            call_uuid,
        )
    ]
    assert "hangup-requested" in kinds and "hangup" in kinds
    (data,) = query(
        postgres_url,
        "SELECT e.data FROM calls_callevent e JOIN calls_call c ON c.id = e.call_id "
        "WHERE c.call_uuid = %s AND e.kind = 'hangup'",
        call_uuid,
    )[0]
    assert data == {"reason": "operator", "result": "stream-closed"}
    assert "Traceback" not in server_a.log() + server_b.log()
    browser.close()
