"""The database at its limit: a real daphne server on PostgreSQL as a role allowed only 3 connections, with a pool
of at most 3. A burst of signed answer webhooks never gets a 500 (each is answered, or a 503 with Retry-After that
Plivo retries), every call is answered soon after, and later calls still get connections (nothing leaks or
wedges). A whole simulated call with an 80-character CallUUID and a long SIP caller runs end to end."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest

from streaming.simulator.client import run_call
from streaming.simulator.config import CallScript
from tests.live_server import SCRIPTED, LiveServer, manage, start_daphne
from tests.plivo_signing import plivo_signature
from tests.server_process import server_env
from tests.shared_db import scratch_postgres_database

TOKEN = "db-limit-auth-token"
SIP_CALLER = "sip:caller.with.a.long.name-0123456789@pbx.customer.example.com;transport=tls"  # 78 characters
BURST, SEQUENTIAL, RETRY_WITHIN_S = 15, 20, 10.0


def uuid_80(n: int) -> str:
    return f"{n:04d}-" + uuid.uuid4().hex * 2 + "-" + "e" * 10  # 4 + 1 + 64 + 1 + 10 = 80 characters


@pytest.fixture(scope="module")
def admin_url() -> Iterator[str]:
    with scratch_postgres_database("dblimit") as url:
        yield url


@pytest.fixture(scope="module")
def limited_role_url(admin_url: str, tmp_path_factory) -> Iterator[str]:
    """The migrated, seeded database as a new role with CONNECTION LIMIT 3 (dropped afterwards)."""
    media = tmp_path_factory.mktemp("media")
    env = server_env(admin_url, media, debug=False, PLIVO_AUTH_TOKEN=TOKEN, DJANGO_SUPERUSER_PASSWORD="unused-123")
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    role = f"voice_limited_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 3')
        admin.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
        admin.execute(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    try:
        parts = urlsplit(admin_url)
        yield urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'")
            admin.execute(f'DROP OWNED BY "{role}"')
        with psycopg.connect(admin_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="module")
def server(limited_role_url: str, tmp_path_factory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp("db-at-limit")
    env = server_env(
        limited_role_url,
        workdir / "media",
        debug=False,
        DB_POOL_MIN_SIZE="2",
        DB_POOL_MAX_SIZE="3",
        DB_POOL_TIMEOUT="2",
        DB_STATEMENT_TIMEOUT_MS="1500",
        PLIVO_AUTH_TOKEN=TOKEN,
        VOICE_PROVIDER_FACTORY=SCRIPTED,
        SCRIPTED_TRANSCRIPTS="What are your opening hours?",
    )
    live = start_daphne(workdir, "limited", env)
    try:
        yield live
    finally:
        live.stop()


def signed_answer(base: str, call_uuid: str) -> tuple[dict[str, str], dict[str, str]]:
    params = {"CallUUID": call_uuid, "From": SIP_CALLER, "To": "14155550100", "Direction": "inbound"}
    params["CallStatus"] = "ringing"
    # a fresh nonce per request, as Plivo does (a repeated nonce is refused as a replay)
    return params, plivo_signature("POST", base + "/plivo/answer/", params, TOKEN, nonce=uuid.uuid4().hex)


async def post_answer(http: httpx.AsyncClient, base: str, call_uuid: str) -> httpx.Response:
    params, headers = signed_answer(base, call_uuid)
    return await http.post(base + "/plivo/answer/", data=params, headers=headers)


def assert_answered_or_retry_later(response: httpx.Response) -> None:
    if response.status_code == 503:
        assert response.headers["Retry-After"] == "1"
        assert response.text == "Database temporarily unavailable; retry later."
    else:
        assert response.status_code == 200, response.text
        assert "<Stream" in response.text


async def answer_with_retries(http: httpx.AsyncClient, base: str, call_uuid: str, first: httpx.Response) -> int:
    """Like Plivo: retry a 503 after Retry-After until answered or RETRY_WITHIN_S is over; the final status."""
    response, deadline = first, time.monotonic() + RETRY_WITHIN_S
    while response.status_code == 503 and time.monotonic() < deadline:
        await asyncio.sleep(int(response.headers["Retry-After"]))
        response = await post_answer(http, base, call_uuid)
        assert_answered_or_retry_later(response)
    return response.status_code


def calls(url: str, uuids: list[str]) -> list[tuple]:
    with psycopg.connect(url) as db:
        return db.execute(
            "SELECT call_uuid, from_number, to_number, direction, status FROM calls_call"
            " WHERE call_uuid = ANY(%s) ORDER BY call_uuid",
            (uuids,),
        ).fetchall()


@pytest.mark.timeout(120)
async def test_answer_burst_on_three_connections_never_500s_and_recovers(server, admin_url):
    burst = [uuid_80(n) for n in range(BURST)]
    async with httpx.AsyncClient(timeout=30) as http:
        first = await asyncio.gather(*(post_answer(http, server.url, u) for u in burst))
        for response in first:
            assert_answered_or_retry_later(response)
        final = await asyncio.gather(
            *(answer_with_retries(http, server.url, u, r) for u, r in zip(burst, first, strict=True))
        )
        assert final == [200] * BURST
        later = [uuid_80(100 + n) for n in range(SEQUENTIAL)]
        for call_uuid in later:
            response = await post_answer(http, server.url, call_uuid)
            assert (response.status_code, "<Stream" in response.text) == (200, True)
    expected = sorted((u, SIP_CALLER, "+14155550100", "inbound", "in-progress") for u in burst + later)
    assert calls(admin_url, burst + later) == expected
    assert "Traceback" not in server.log()


@pytest.mark.timeout(120)
async def test_stuck_table_gives_503s_then_every_call_is_answered(server, admin_url):
    """calls_call locked until the whole burst is answered: queries hit the 1.5 s statement timeout, requests waiting
    for a connection the 2 s pool timeout; both answer 503 + Retry-After, and the retries after the lock is released
    are all answered."""
    burst = [uuid_80(200 + n) for n in range(BURST)]
    async with httpx.AsyncClient(timeout=30) as http:
        with psycopg.connect(admin_url) as locker:
            locker.execute("LOCK TABLE calls_call IN ACCESS EXCLUSIVE MODE")
            first = await asyncio.gather(*(post_answer(http, server.url, u) for u in burst))
        for response in first:
            assert_answered_or_retry_later(response)
        assert {r.status_code for r in first} == {503}  # lock held past every statement and pool timeout
        final = await asyncio.gather(
            *(answer_with_retries(http, server.url, u, r) for u, r in zip(burst, first, strict=True))
        )
        assert final == [200] * BURST
    expected = sorted((u, SIP_CALLER, "+14155550100", "inbound", "in-progress") for u in burst)
    assert calls(admin_url, burst) == expected
    assert "Traceback" not in server.log()


@pytest.mark.timeout(120)
async def test_whole_call_with_80_character_uuid_and_sip_caller(server, admin_url):
    call_uuid = uuid_80(999)
    script = CallScript(
        to="+14155550100",
        caller=SIP_CALLER,
        turns=["What are your opening hours?"],
        base_url=server.url,
        auth_token=TOKEN,
        call_uuid=call_uuid,
        max_seconds=60,
    )
    result = await run_call(script)
    assert (result.ended_by, len(call_uuid)) == ("caller", 80)
    assert calls(admin_url, [call_uuid]) == [(call_uuid, SIP_CALLER, "+14155550100", "inbound", "completed")]
    with psycopg.connect(admin_url) as db:
        turns = db.execute(
            "SELECT t.role, t.text FROM calls_turn t JOIN calls_call c ON c.id = t.call_id"
            " WHERE c.call_uuid = %s AND t.role = 'caller' ORDER BY t.sequence",
            (call_uuid,),
        ).fetchall()
    assert turns == [("caller", "What are your opening hours?")]
    assert "Traceback" not in server.log()
