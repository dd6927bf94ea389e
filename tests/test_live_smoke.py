"""Opt-in smoke test against the real cloud services. Skipped unless LIVE_SMOKE=1 and real keys are set:
LIVE_SMOKE=1 AZURE_SPEECH_KEY=… AZURE_SPEECH_REGION=… OPENAI_API_KEY=… make test PYTEST_ARGS=tests/test_live_smoke.py
"""

from __future__ import annotations

import asyncio
import os

import pytest

from streaming.providers.azure.stt import AzureSTT
from streaming.providers.azure.tts import AzureTTS
from streaming.providers.base import Conversation, Message, TextDelta
from streaming.providers.openai.llm import OpenAILLM
from tests.factories import make_config

LIVE = os.environ.get("LIVE_SMOKE") == "1"
pytestmark = pytest.mark.skipif(not LIVE, reason="live cloud smoke test: set LIVE_SMOKE=1 and real keys")
SPEC = make_config(
    language="en-US", voice="en-US-JennyNeural", llm_model=os.environ.get("LIVE_OPENAI_MODEL", "gpt-4o-mini")
)


@pytest.fixture
def cloud(settings):
    for name in ("AZURE_SPEECH_KEY", "AZURE_SPEECH_REGION", "OPENAI_API_KEY"):
        if not os.environ.get(name):
            pytest.skip(f"{name} is not set")
        setattr(settings, name, os.environ[name])
    settings.OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")


async def test_azure_speaks_and_hears_itself(cloud):
    tts, stt = AzureTTS(SPEC), AzureSTT(SPEC)
    try:
        await tts.start()
        audio = b"".join([chunk async for chunk in tts.speak("What are your opening hours?")])
        assert len(audio) > 8000  # more than a second of μ-law
        await stt.start()
        for i in range(0, len(audio) + 16000, 160):
            stt.feed((audio + b"\xff" * 16000)[i : i + 160])
            await asyncio.sleep(0.02)
        results = stt.results()
        final = None
        async with asyncio.timeout(15):
            async for result in results:
                if result.final:
                    final = result.text
                    break
        assert final is not None and "opening hours" in final.lower()
    finally:
        await stt.close()
        await tts.close()


async def test_openai_replies(cloud):
    llm = OpenAILLM(SPEC)
    try:
        events = [e async for e in llm.reply(Conversation(SPEC, [Message("caller", "Say the word hello.")]))]
        assert "hello" in "".join(e.text for e in events if isinstance(e, TextDelta)).lower()
    finally:
        await llm.close()
