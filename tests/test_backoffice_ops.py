"""Operations (issue 18): the sweeper inside the server process, stream tokens out of the logs, the kombu warning,
and what `make run` prints."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings as django_settings
from django.utils import timezone
from kombu import Connection

from calls import sweeper_loop
from calls.models import Call
from calls.tasks import ORPHAN_CAUSE
from calls.ui.display import call_state
from tests.call_factories import dental_agent, make_call
from voiceproject.redaction import RedactingAccessLog, RedactStreamTokens, redact
from voiceproject.serve import banner, option

TOKEN = "eyJjYWxsIjoiQ0EtMSJ9.Zm9vYmFy-_x"


def stream_ended_call(uuid: str, minutes_ago: float, agent=None) -> Call:
    ended = timezone.now() - timedelta(minutes=minutes_ago)
    return make_call(
        agent or dental_agent(),
        call_uuid=uuid,
        status=Call.Status.IN_PROGRESS,
        answered_at=ended - timedelta(seconds=30),
        stream_started_at=ended - timedelta(seconds=30),
        stream_ended_at=ended,
        ended_at=None,
        duration_seconds=None,
        hangup_cause="",
    )


async def inner_app(scope, receive, send) -> None:
    return None


@pytest.fixture
def no_sweeper_after():
    yield
    sweeper_loop.stop()


@pytest.mark.django_db(transaction=True)
async def test_the_in_process_sweeper_finalizes_a_stream_ended_call_without_hangup(settings, no_sweeper_after):
    settings.SWEEPER_INTERVAL_SECONDS, settings.ORPHAN_CALL_MINUTES = 0.2, 10
    settings.CELERY_TASK_ALWAYS_EAGER = True  # no broker, no beat (as `make run`): the server process sweeps
    stuck = await sync_to_async(stream_ended_call)("CA-stuck", 11)
    recent = await sync_to_async(stream_ended_call)("CA-recent", 1, await sync_to_async(lambda: stuck.agent)())
    app = sweeper_loop.StartsSweeper(inner_app)
    await app({"type": "http", "server": ("127.0.0.1", 8000)}, None, None)  # the first request a server hands over
    assert sweeper_loop._task is not None
    for _ in range(200):
        call = await sync_to_async(Call.objects.get)(pk=stuck.pk)
        if call.finalized_at is not None:
            break
        await asyncio.sleep(0.05)
    assert (call.status, call.hangup_cause, call.ended_at) == ("completed", ORPHAN_CAUSE, call.stream_ended_at)
    assert call.duration_seconds == 30 and call.analysis_status == "done"
    assert call_state(call).note == "Plivo's hang-up callback never came: the sweeper closed the call."
    waiting = await sync_to_async(Call.objects.get)(pk=recent.pk)
    assert (waiting.status, waiting.ended_at) == ("in-progress", None)
    state = call_state(waiting)
    assert (state.key, state.label) == ("awaiting-hangup", "stream ended, waiting for Plivo's hang-up")
    due = timezone.localtime(waiting.stream_ended_at + timedelta(minutes=10)).strftime("%H:%M %Z")
    assert state.note == (
        "The audio stream ended; waiting for Plivo's hang-up callback. If it never comes, the sweeper closes the "
        f"call at {due}."
    )


async def test_the_sweeper_starts_once_and_only_where_a_real_server_runs(settings, no_sweeper_after, monkeypatch):
    started = []
    monkeypatch.setattr(sweeper_loop, "start", lambda: started.append(1))
    app = sweeper_loop.StartsSweeper(inner_app)
    await app({"type": "websocket"}, None, None)  # a test communicator's scope: no server
    assert started == []
    await app({"type": "http", "server": ("127.0.0.1", 8000)}, None, None)
    await app({"type": "http", "server": ("127.0.0.1", 8000)}, None, None)
    assert started == [1]


async def test_no_in_process_sweeper_with_a_celery_worker_or_when_turned_off(settings, no_sweeper_after):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    assert sweeper_loop.start() is None
    settings.CELERY_TASK_ALWAYS_EAGER, settings.SWEEPER_INTERVAL_SECONDS = True, 0
    assert sweeper_loop.start() is None


async def test_a_failing_sweep_never_reaches_the_server(monkeypatch, caplog):
    def broken() -> int:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(sweeper_loop, "_sweep", broken)
    with caplog.at_level(logging.ERROR, logger="calls.sweeper_loop"):
        assert await sweeper_loop.sweep_once() == 0
    assert "the sweep failed" in caplog.text


def test_access_log_lines_have_the_stream_token_redacted():
    stream = io.StringIO()
    log = RedactingAccessLog(stream)
    log("websocket", "connecting", {"client": "10.0.0.5:4242", "path": f"/ws/plivo/{TOKEN}/"})
    log("websocket", "disconnected", {"client": "10.0.0.5:4242", "path": f"/ws/plivo/{TOKEN}/"})
    log("http", "complete", {"client": "10.0.0.5:1", "path": "/calls/", "method": "GET", "status": 200, "size": 9})
    lines = stream.getvalue().splitlines()
    assert TOKEN not in stream.getvalue()
    assert [line.split('"')[1] for line in lines] == [
        "WSCONNECTING /ws/plivo/[redacted]/",
        "WSDISCONNECT /ws/plivo/[redacted]/",
        "GET /calls/",
    ]
    assert lines[0].startswith("10.0.0.5:4242 - - [") and lines[2].endswith('" 200 9')


def test_log_records_through_the_console_handler_are_redacted():
    record = logging.LogRecord(
        "django.channels.server",
        logging.INFO,
        __file__,
        1,
        "WebSocket %s %s",
        (f"/ws/plivo/{TOKEN}/", "[1.2.3.4]"),
        None,
    )
    assert RedactStreamTokens().filter(record) is True
    assert record.getMessage() == "WebSocket /ws/plivo/[redacted]/ [1.2.3.4]"
    handler = logging.getLogger().handlers
    assert any(isinstance(f, RedactStreamTokens) for h in handler for f in h.filters)  # settings.LOGGING
    assert redact(f"wss://example.com/ws/plivo/{TOKEN}/?x=1") == "wss://example.com/ws/plivo/[redacted]/?x=1"
    assert redact("/ws/calls/CA-1/live/") == "/ws/calls/CA-1/live/"


def test_the_eager_broker_url_names_a_host(caplog):
    """kombu warns "No hostname was supplied" for memory:// on the first connection; the URL now has one."""
    if not django_settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("a real broker is configured")
    with caplog.at_level(logging.WARNING, logger="kombu.connection"):
        connection = Connection(django_settings.CELERY_BROKER_URL)
        connection.info()
        connection.release()
    assert "No hostname was supplied" not in caplog.text
    assert django_settings.CELERY_BROKER_URL == "memory://localhost/"


def test_the_run_command_says_where_to_go_and_who_to_log_in_as():
    args = ["-b", "127.0.0.1", "-p", "8123", "voiceproject.asgi:application"]
    assert (option(args, ("-b", "--bind"), "x"), option(args, ("-p", "--port"), "x")) == ("127.0.0.1", "8123")
    assert option(["--port=9000"], ("-p", "--port"), "8000") == "9000"
    assert banner("127.0.0.1", "8123", ["admin"]).splitlines() == [
        "Serving on 127.0.0.1:8123",
        "  Calls:  http://localhost:8123/calls/",
        "  Admin:  http://localhost:8123/admin/",
        "  Log in as: admin (the password seed_demo printed when it created the user)",
    ]
    assert banner("0.0.0.0", "80", [])[-1:] != "" and "createsuperuser" in banner("0.0.0.0", "80", [])


def test_the_makefile_runs_the_redacting_server():
    from tests.live_server import ROOT

    makefile = (ROOT / "Makefile").read_text()
    assert "-m voiceproject.serve -b $(HOST) -p $(PORT) voiceproject.asgi:application" in makefile
    assert isinstance(datetime.now(), datetime)


def test_favicon_is_served_everywhere(client):
    response = client.get("/favicon.ico")
    assert (response.status_code, response["Location"]) == (301, "/static/calls/favicon.svg")
