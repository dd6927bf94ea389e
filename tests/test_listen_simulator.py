"""The simulator's listen mode against a real daphne server: two tracks, speaker-labelled turns, nothing back."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

import pytest

from streaming.simulator.client import run_call
from streaming.simulator.config import CallScript
from tests.live_server import migrated_database, start_server

DEMO = "+14155550100"
CALLER = ["Hello I would like to cancel my account", "Fine then"]
PERSON = ["Sorry to hear that, may I ask why", "Of course, I will take care of it"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir: Path = tmp_path_factory.mktemp("listen-simulator")
    database = migrated_database(workdir / "template.sqlite3")
    server = start_server(
        workdir,
        database,
        "listen",
        VOICE_PROVIDER_FACTORY="tests.fakes.scripted.create_listen_providers",
        SCRIPTED_TRANSCRIPTS="|".join(CALLER),
        SCRIPTED_PERSON_TRANSCRIPTS="|".join(PERSON),
        SCRIPTED_STT_MS="500",  # longer than the pause at a comma: one final per turn
    )
    with contextlib.closing(sqlite3.connect(server.db_path, timeout=10)) as db, db:  # committed
        db.execute(
            "UPDATE agents_phonenumber SET mode = 'listen', listen_dial = '+14155550123', alert_phrases = ? "
            "WHERE number = ?",
            ("cancel my account\nlawyer", DEMO),
        )
    try:
        yield server
    finally:
        server.stop()


def test_simulated_listen_call(server):
    script = CallScript(
        to=DEMO,
        turns=CALLER,
        person_turns=PERSON,
        base_url=server.url,
        silence_ms=300,
        listen_gap_ms=500,
        hang_up_after_ms=800,
        call_uuid="SIM-L1",
        max_seconds=40,
    )
    result = asyncio.run(run_call(script))
    assert result.ended_by == "caller"
    assert result.frames_received == 0 and result.unknown_events == []  # never a playAudio, nor anything else
    starts = [(e.kind, e.text) for e in result.transcript if e.kind in ("caller-start", "person-start")]
    assert starts == [
        ("caller-start", CALLER[0]),
        ("person-start", PERSON[0]),
        ("caller-start", CALLER[1]),
        ("person-start", PERSON[1]),
    ]
    rows = server.query(
        "SELECT t.role, t.text FROM calls_turn t JOIN calls_call c ON t.call_id = c.id WHERE c.call_uuid = ? "
        "ORDER BY t.start_ms",
        "SIM-L1",
    )
    assert rows == [("caller", CALLER[0]), ("person", PERSON[0]), ("caller", CALLER[1]), ("person", PERSON[1])]
    alerts = server.events("SIM-L1", "alert")
    assert [(a["phrase"], a["speaker"], a["text"]) for a in alerts] == [("cancel my account", "caller", CALLER[0])]
    assert server.call("SIM-L1")["mode"] == "listen"
