"""The back-office in a real browser (issue 18): the live page through a call and after its end, the hang-up
confirmation, phone widths without horizontal scrolling, and the agent page saying what really runs.

Reuses tests/test_browser.py's daphne server and seed; screenshots go to test-artifacts/ (look at them).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from calls.models import Call, CallEvent
from tests.test_browser import (  # noqa: F401 - the server fixture
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_FLAGS,
    PASSWORD,
    publish,
    seed,
    server,
)

pytestmark = pytest.mark.django_db(transaction=True)
WIDTHS = (360, 420)


@pytest.fixture
def seeded() -> tuple[Call, Call]:
    booked, live = seed()
    User.objects.create_superuser("boss", password=PASSWORD)
    return booked, live


def log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/calls/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:text('Log in')")
    page.wait_for_url(f"{base}/calls/")


def overflow(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")


def test_live_page_through_a_call_and_after_its_end(seeded, server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    booked, live = seeded
    base, db = server
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            log_in(page, base, "operator")
            page.goto(f"{base}/calls/{live.pk}/live/")
            expect(page.locator("#live-status")).to_have_text("live")
            expect(page.locator("#call-state-label")).to_have_text("on the line")
            expect(page.locator("#elapsed")).to_have_text(re.compile(r"^\d+:\d\d(:\d\d)?$"))
            expect(page.locator("#partial-line")).to_be_hidden()
            publish(base, live.call_uuid, "partial", {"text": "I would like to"})
            expect(page.locator("#partial-line")).to_have_text("Caller, still speaking (not final): I would like to")
            publish(base, live.call_uuid, "turn", {"sequence": 2, "role": "caller", "text": "I would like to book."})
            expect(page.locator("#partial-line")).to_be_hidden()
            expect(page.locator('.turn[data-seq="2"] .bubble')).to_have_text("I would like to book.")

            page.click("#hangup")  # asks first
            expect(page.locator("#hangup-confirm")).to_be_visible()
            expect(page.locator("#hangup")).to_be_hidden()
            page.screenshot(path=str(ARTIFACTS / "backoffice-live-confirm.png"), full_page=True)
            page.click("#hangup-cancel")
            expect(page.locator("#hangup-confirm")).to_be_hidden()
            expect(page.locator("#hangup")).to_be_enabled()
            page.click("#hangup")
            page.click("#hangup-yes")
            expect(page.locator(".messages li")).to_have_text("Hang-up requested.")
            expect(page.locator("#hangup")).to_be_disabled()
            expect(page.locator("#call-state-label")).to_have_text("hang-up requested, waiting for the call to end")

            publish(base, live.call_uuid, "ended", {})
            expect(page.locator("#ended")).to_be_visible()
            expect(page.locator("#call-state-label")).to_have_text("ended")
            expect(page.locator("#live-status")).to_have_text("closed (the call has ended)")
            expect(page.locator("#hangup")).to_be_disabled()
            expect(page.locator("#elapsed")).to_contain_text("(call ended)")
            page.screenshot(path=str(ARTIFACTS / "backoffice-live-ended.png"), full_page=True)

            page.goto(f"{base}/calls/{booked.pk}/live/")  # a call that ended before the page opened
            expect(page.locator("#call-state-label")).to_have_text("ended")
            expect(page.locator("#hangup")).to_be_disabled()
            expect(page.locator("#live-status")).to_have_text("closed (the call has ended)")
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "backoffice-live-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    db.pull()
    assert list(CallEvent.objects.filter(call_id=live.pk).values_list("kind", "data")) == [
        ("hangup-requested", {"by": "operator"})
    ]


def test_pages_fit_a_phone_without_horizontal_scrolling(seeded, server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    booked, live = seeded
    base, _ = server
    ARTIFACTS.mkdir(exist_ok=True)
    pages = {
        "list": "/calls/",
        "detail": f"/calls/{booked.pk}/",
        "live": f"/calls/{live.pk}/live/",
        "dashboard": "/calls/dashboard/",
    }
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            log_in(page, base, "operator")
            page.goto(f"{base}/calls/")
            assert overflow(page)[0] <= overflow(page)[1]
            expect(page.locator("table.call-list time").first).to_contain_text(":")
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 800})
                for name, path in pages.items():
                    page.goto(base + path)
                    page.wait_for_load_state("load")
                    page.screenshot(path=str(ARTIFACTS / f"backoffice-{name}-{width}.png"), full_page=True)
                    scroll, client = overflow(page)
                    assert scroll <= client, f"{name} at {width} px is {scroll} px wide"
                    header = page.evaluate("document.querySelector('.topbar').getBoundingClientRect().width")
                    assert header == pytest.approx(client, abs=1), f"{name}: the header ends at {header} px"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "backoffice-phone-failure.png"), full_page=True)
            raise
        finally:
            browser.close()


def test_the_agent_page_shows_the_effective_providers(seeded, server):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, _ = server  # the server runs without OPENAI/Azure keys: "auto" means offline
    agent = seeded[0].agent
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(f"{base}/admin/login/")
            page.fill("input[name=username]", "boss")
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit]")
            page.goto(f"{base}/admin/agents/agent/{agent.pk}/change/")
            stages = page.locator("#effective-providers .stages li")
            expect(stages).to_have_text(
                [
                    "STT: offline pocketsphinx — AZURE_SPEECH_KEY not set",
                    "LLM: offline FAQ engine (no AI) — OPENAI_API_KEY not set",
                    "TTS: offline eSpeak NG — AZURE_SPEECH_KEY not set",
                ]
            )
            expect(page.locator("#effective-providers .warnings li").first).to_contain_text(
                "answers from the FAQ entries only: the model gpt-4o-mini, temperature and max tokens are ignored"
            )
            expect(page.locator("input[name=webhook_secret]")).to_have_attribute("type", "password")
            expect(page.locator("input[name=webhook_secret]")).to_have_value("")
            expect(page.locator("textarea[name=greeting]")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "backoffice-agent.png"), full_page=False)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "backoffice-agent-failure.png"), full_page=True)
            raise
        finally:
            browser.close()
