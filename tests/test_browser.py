"""A real browser (Debian's chromium driven by Playwright) against daphne serving the app.

Log in, filter the list, open a call and load its recording, then watch a live call: a turn published through
the channel layer shows up within a second, the hang-up button works, and the end links to the detail.
Daphne runs as a subprocess on the test's database (see tests/shared_db.py); live events are published inside
that process through tests/browser_asgi.py's test-only hook, so this works with the in-memory layer and, when
REDIS_URL is set, goes through Redis. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from calls.models import Call, CallEvent
from tests.call_factories import dental_agent, make_call, make_user, store_recording, three_calls, wav_bytes
from tests.conftest import REQUIRE_SERVICES, service_reachable
from tests.shared_db import SharedDatabase
from tests.test_dashboard import move_to_recent_days

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [  # stack-notes: flags that work as root, offline (Playwright adds --headless and a fresh profile)
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pass-1"

pytestmark = pytest.mark.django_db(transaction=True)


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test"
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_listening(port: int, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert server.poll() is None, f"daphne exited:\n{log.read_text()[-3000:]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"daphne did not listen in time:\n{log.read_text()[-3000:]}")


@pytest.fixture
def server(tmp_path, settings) -> Iterator[tuple[str, SharedDatabase]]:
    """Daphne on a free port, on this test's database and media directory."""
    require_chromium()
    db = SharedDatabase(tmp_path)
    db.push()
    port, log = free_port(), tmp_path / "daphne.log"
    env = {**os.environ, "DATABASE_URL": db.url, "MEDIA_ROOT": str(settings.MEDIA_ROOT), "DJANGO_DEBUG": "1"}
    env.pop("REDIS_URL", None)
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url and service_reachable(redis_url):
        env["REDIS_URL"] = redis_url
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PLIVO_AUTH_TOKEN", "PUBLIC_URL"):
        env[name] = ""
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tests.browser_asgi:application"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    try:
        wait_until_listening(port, process, log)
        yield f"http://127.0.0.1:{port}", db
    finally:
        process.terminate()
        process.wait(timeout=15)


def seed() -> tuple[Call, Call]:
    """The three known calls (the first with a 2 s recording), a live call, and an operator."""
    booked, _, _ = three_calls()
    store_recording(booked, wav_bytes(2.0))
    live = make_call(
        dental_agent(number="+14155550999"),
        turns=[("caller", "Is anyone there?", 0, 900, False, "", {})],
        call_uuid="CA-live-1",
        status=Call.Status.IN_PROGRESS,
        ended_at=None,
        stream_ended_at=None,
        duration_seconds=None,
    )
    make_user("operator", permitted=True, hangup=True, password=PASSWORD)
    move_to_recent_days()  # so the dashboard's default period shows them
    return booked, live


def publish(base: str, call_uuid: str, kind: str, data: dict) -> None:
    body = json.dumps({"call_uuid": call_uuid, "kind": kind, "data": data}).encode()
    request = urllib.request.Request(f"{base}/__test__/publish/", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204


@pytest.fixture
def seeded() -> tuple[Call, Call]:
    return seed()


def test_operator_journey_in_chromium(seeded, server):
    from playwright.sync_api import expect, sync_playwright

    booked, live = seeded
    base, db = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(f"{base}/calls/")
            expect(page).to_have_url(f"{base}/calls/login/?next=/calls/")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", PASSWORD)
            page.click("button:text('Log in')")
            expect(page.locator("#result-count")).to_have_text("4 calls")

            page.select_option("select[name=sentiment]", "negative")
            page.click("button:text('Filter')")
            expect(page.locator("#result-count")).to_have_text("1 call")
            expect(page.locator("table.calls tbody tr td.nowrap")).to_have_text(["+14155550100 → +14155550222"])
            page.screenshot(path=str(ARTIFACTS / "calls-list-filtered.png"), full_page=True)

            page.goto(f"{base}/calls/?q=cleaning")
            page.click(f"a[href='/calls/{booked.pk}/']")
            expect(page.locator(".turn.interrupted .unheard")).to_have_text(" or Thursday at 2.")
            page.wait_for_function("document.getElementById('recording').readyState >= 1", timeout=5000)
            duration = page.evaluate("document.getElementById('recording').duration")
            assert duration == pytest.approx(2.0, abs=0.05)
            page.evaluate("document.getElementById('recording').currentTime = 1.0")  # inside turn 1 (0.64-3.2 s)
            expect(page.locator("#transcript .turn.playing")).to_have_attribute("data-seq", "1")
            page.screenshot(path=str(ARTIFACTS / "call-detail.png"), full_page=True)

            page.goto(f"{base}/calls/{live.pk}/live/")
            expect(page.locator("#live-status")).to_have_text("live")
            turn = {"sequence": 2, "role": "agent", "text": "Yes, <hello>!", "interrupted": False,
                    "heard_text": "", "start_ms": 1500, "end_ms": 2600}  # fmt: skip
            publish(base, live.call_uuid, "turn", turn)  # pushed over the socket: no reload in between
            expect(page.locator('.turn[data-seq="2"] .bubble')).to_have_text("Yes, <hello>!", timeout=5000)
            page.screenshot(path=str(ARTIFACTS / "live-call-turn.png"), full_page=True)

            page.click("#hangup")
            page.click("#hangup-yes")  # the confirmation
            expect(page.locator(".messages li")).to_have_text("Hang-up requested.")
            expect(page.locator("#live-status")).to_have_text("live")
            publish(base, live.call_uuid, "ended", {})
            expect(page.locator("#ended")).to_be_visible(timeout=1000)
            page.screenshot(path=str(ARTIFACTS / "live-call.png"), full_page=True)
            page.click("#ended a")
            expect(page).to_have_url(f"{base}/calls/{live.pk}/")

            page.click("nav a:text('Dashboard')")
            expect(page.locator("#total-calls")).to_have_text("4")
            expect(page.locator("svg.chart")).to_have_count(4)
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    db.pull()
    event = CallEvent.objects.get(call_id=live.pk, kind="hangup-requested")
    assert event.data == {"by": "operator"}
