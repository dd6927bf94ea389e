"""The shared speech store: fixed lines synthesized once, before the call, readable by every server process.

File store and Redis-cache store round trips, a store that is down or slow (a miss, never an error), an agent save
preparing its version's lines after the commit, and the answer webhook starting one background preparation.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import time
import uuid
from pathlib import Path

import pytest
from django.core.cache import caches
from django.db import transaction

from agents.models import Agent
from calls.models import Call
from streaming.providers import line_prep
from streaming.providers import speech_cache as store_module
from streaming.providers.base import ProviderError
from streaming.providers.speech_cache import MAX_STORED_BYTES, TTL_SECONDS, SpeechCache, speech_cache, store_name
from streaming.reply import SpeechCache as ReexportedSpeechCache
from streaming.reply import speech_cache as reexported_speech_cache
from tests.factories import make_agent, make_config
from tests.fakes.scripted import ScriptedTTS, create_scripted_providers
from tests.server_process import free_port

SCRIPTED = "tests.fakes.scripted.create_scripted_providers"
LINES = {
    "greeting": "Thanks for calling the bakery, this is the assistant speaking.",
    "goodbye_message": "Bye now.",
    "fallback_line": "Sorry, once more?",
    "reprompt_text": "Still there?",
    "transfer_line": "One moment.",
}


def line_key(agent: Agent, text: str) -> tuple:
    return SpeechCache.key(ScriptedTTS(), agent.voice, agent.language, agent.speaking_rate, text)


def shared_only(key: tuple) -> bytes | None:
    """What the shared store holds, ignoring this process's local copies."""
    return SpeechCache().fetch_shared(key)


@pytest.fixture
def file_store(settings) -> Path:
    settings.REDIS_URL = ""
    return Path(settings.MEDIA_ROOT) / "speech-cache"


@pytest.fixture
def fresh_throttle(monkeypatch):
    monkeypatch.setattr(store_module._throttle, "_last", float("-inf"))


def test_reply_module_re_exports_the_cache():
    assert ReexportedSpeechCache is SpeechCache and reexported_speech_cache is speech_cache


def test_line_key_from_a_config():
    config = make_config(voice="en-US-Ava", language="en-US", speaking_rate=1.1, version=7)
    assert SpeechCache.line_key(ScriptedTTS(), config, "Hi.") == ("ScriptedTTS", "en-US-Ava", "en-US", 1.1, "Hi.")
    assert SpeechCache.line_key(ScriptedTTS(), config.replace(version=8), "Hi.") == SpeechCache.line_key(
        ScriptedTTS(), config, "Hi."
    )  # a new agent version (a changed FAQ) reuses the lines it did not change
    key = ("ScriptedTTS", "v", "en-US", 1.0, "Hi.")
    assert store_name(key) == "speech-line:" + hashlib.sha256(repr(key).encode()).hexdigest()  # same in every process


# ---- the file store ----
async def test_file_store_round_trip(file_store):
    key, audio = ("ScriptedTTS", "v", "en-US", 1.0, 1, "Hello."), b"\x7f\x00" * 4000
    assert await speech_cache.fetch(key) is None
    await speech_cache.publish(key, audio)
    assert speech_cache.get(key) == audio  # kept locally as well
    [stored] = file_store.iterdir()  # one file, no temporary left behind
    assert stored.name == store_name(key).rpartition(":")[2] + ".ulaw" and stored.read_bytes() == audio

    other_process = SpeechCache()
    assert await other_process.fetch(key) == audio
    assert other_process.get(key) == audio  # the shared hit fills the local level
    assert shared_only(key) == audio and await other_process.in_store(key)
    assert await other_process.fetch(("missing",)) is None


def test_file_store_sync_round_trip_ttl_and_size_cap(file_store):
    key, audio = ("T", "v", "en-US", 1.0, 1, "Bye."), b"\x01\x02\x03"
    speech_cache.publish_shared(key, audio)
    assert shared_only(key) == audio and speech_cache.in_store_sync(key)
    old = time.time() - TTL_SECONDS - 10
    os.utime(next(file_store.iterdir()), (old, old))
    assert shared_only(key) is None and not speech_cache.in_store_sync(key)  # expired

    big_key, big = ("T", "v", "en-US", 1.0, 1, "Long."), b"\x00" * (MAX_STORED_BYTES + 1)
    speech_cache.publish_shared(big_key, big)
    assert speech_cache.get(big_key) == big and shared_only(big_key) is None  # too big to share: local only


async def test_a_file_store_that_cannot_be_written_is_a_miss(settings, fresh_throttle, caplog):
    settings.REDIS_URL = ""
    blocker = Path(settings.MEDIA_ROOT)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"not a directory")
    key = ("T", "v", "en-US", 1.0, 1, "Hi.")
    with caplog.at_level(logging.WARNING, logger=store_module.__name__):
        await speech_cache.publish(key, b"abc")
        assert await SpeechCache().fetch(key) is None
    assert speech_cache.get(key) == b"abc"
    assert [r.getMessage() for r in caplog.records] == [
        "Speech line store (file): write failed (NotADirectoryError); treated as a miss"
    ]


# ---- the Redis cache store ----
@pytest.fixture
def redis_cache(settings, redis_url):
    prefix = f"speech-test-{uuid.uuid4().hex[:8]}"
    settings.REDIS_URL = redis_url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": prefix,
        }
    }
    return caches["default"]


async def test_redis_cache_store_round_trip(redis_cache, redis_url):
    import redis

    key, audio = ("ScriptedTTS", "v", "en-US", 1.0, 3, "Hello."), bytes(range(256)) * 40
    name = store_name(key)
    try:
        assert await speech_cache.fetch(key) is None
        await speech_cache.publish(key, audio)
        other_process = SpeechCache()
        assert await other_process.fetch(key) == audio and other_process.get(key) == audio
        assert SpeechCache().fetch_shared(key) == audio and await SpeechCache().in_store(key)
        ttl = redis.Redis.from_url(redis_url).ttl(redis_cache.make_key(name))
        assert TTL_SECONDS - 60 < ttl <= TTL_SECONDS
    finally:
        redis_cache.delete(name)


async def test_a_cache_store_that_is_down_is_a_miss(settings, fresh_throttle, caplog):
    url = f"redis://:s3cret-password@127.0.0.1:{free_port()}/0"
    settings.REDIS_URL = url
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    key = ("T", "v", "en-US", 1.0, 1, "Hi.")
    with caplog.at_level(logging.WARNING, logger=store_module.__name__):
        await speech_cache.publish(key, b"abc")  # does not raise
        assert await SpeechCache().fetch(key) is None
        assert not await SpeechCache().in_store(key)
        SpeechCache().publish_shared(key, b"abc")
        assert SpeechCache().fetch_shared(key) is None
    assert speech_cache.get(key) == b"abc"  # this process still has it
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["Speech line store (cache): write failed (ConnectionError); treated as a miss"]  # once a minute
    assert "s3cret" not in caplog.text and str(url) not in caplog.text


async def test_a_slow_store_is_a_miss_and_does_not_block_the_loop(file_store, monkeypatch, fresh_throttle):
    class SlowStore:
        kind = "slow"

        def get(self, name):
            time.sleep(2.0)
            return b"late"

    monkeypatch.setattr(store_module, "FETCH_TIMEOUT_S", 0.1)
    ticks = 0

    async def tick():
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticker = asyncio.create_task(tick())
    started = time.monotonic()
    assert await SpeechCache(store=SlowStore()).fetch(("k",)) is None
    ticker.cancel()
    assert time.monotonic() - started < 1.5  # its own timeout, not the store's 2 s
    assert ticks >= 3  # the loop kept turning while the store hung


# ---- preparing the lines ----
async def test_prepare_lines_synthesizes_what_is_missing_once(file_store):
    config = make_config(**(LINES | {"reprompt_text": "Bye now."}))  # a line used twice is synthesized once
    tts = ScriptedTTS(realtime=False, first_audio_ms=0)
    assert await line_prep.prepare_lines(config, tts) == 4
    assert sorted(tts.spoken) == sorted(set(tts.spoken)) and len(tts.spoken) == 4
    for text in line_prep.fixed_lines(config):
        assert shared_only(SpeechCache.line_key(tts, config, text)) == tts.audio_for(text)
    assert await line_prep.prepare_lines(config, tts) == 0 and len(tts.spoken) == 4


async def test_a_line_held_locally_is_published_without_synthesis(file_store):
    config = make_config(**LINES)
    tts = ScriptedTTS(realtime=False, first_audio_ms=0)
    key = SpeechCache.line_key(tts, config, LINES["greeting"])
    speech_cache.put(key, b"already spoken")
    assert await line_prep.prepare_lines(config, tts) == 4
    assert LINES["greeting"] not in tts.spoken and shared_only(key) == b"already spoken"


async def test_a_failing_tts_prepares_nothing_and_raises_nothing(file_store):
    config = make_config(**LINES)
    tts = ScriptedTTS(first_audio_ms=0, fail=ProviderError("down", provider="tts"))
    assert await line_prep.prepare_lines(config, tts) == 0
    assert not list(file_store.glob("*.ulaw"))


async def test_prepare_lines_sync_from_inside_an_event_loop(file_store, settings):
    settings.VOICE_PROVIDER_FACTORY = SCRIPTED
    config = make_config(greeting="Hi.", goodbye_message="", fallback_line="", reprompt_text="", transfer_line="")
    assert line_prep.prepare_lines_sync(config) == 1  # runs in its own thread and loop
    assert shared_only(SpeechCache.line_key(ScriptedTTS(), config, "Hi.")) == ScriptedTTS().audio_for("Hi.")


class StartCountingTTS(ScriptedTTS):
    starts = 0

    async def start(self) -> None:
        StartCountingTTS.starts += 1


def start_counting_factory(config):
    stt, llm, _ = create_scripted_providers(config)
    return stt, llm, StartCountingTTS(config, first_audio_ms=0, realtime=False)


async def test_the_tts_is_started_only_when_a_line_is_missing(file_store, monkeypatch):
    monkeypatch.setattr(StartCountingTTS, "starts", 0)
    config = make_config(**LINES)
    factory = "tests.test_speech_store.start_counting_factory"
    assert await line_prep.prepare_with_providers(config, factory) == 5
    assert await line_prep.prepare_with_providers(config, factory) == 0
    assert StartCountingTTS.starts == 1


def test_prepare_lines_sync_never_raises(file_store, settings):
    settings.VOICE_PROVIDER_FACTORY = "tests.fakes.scripted.no_such_factory"
    assert line_prep.prepare_lines_sync(make_config()) == 0


# ---- an agent saved ----
@pytest.mark.django_db(transaction=True)
def test_saving_an_agent_prepares_its_lines_after_the_commit(file_store, settings):
    settings.VOICE_PROVIDER_FACTORY = SCRIPTED
    settings.SPEECH_PREPARE_LINES = True
    with transaction.atomic():
        agent = make_agent(**LINES)
        assert not file_store.exists()  # nothing before the commit
    for text in LINES.values():
        assert shared_only(line_key(agent, text)) == ScriptedTTS().audio_for(text)

    agent.greeting = "Good morning, bakery."
    agent.save()
    assert agent.version == 2
    assert shared_only(line_key(agent, "Good morning, bakery.")) == ScriptedTTS().audio_for("Good morning, bakery.")
    assert shared_only(line_key(agent, "Bye now.")) == ScriptedTTS().audio_for("Bye now.")


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_does_not_break_the_save(file_store, settings, monkeypatch, caplog):
    from kombu.exceptions import OperationalError

    from calls.tasks import prepare_agent_lines

    def down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis://:pw@127.0.0.1:1")

    settings.SPEECH_PREPARE_LINES = True
    monkeypatch.setattr(prepare_agent_lines, "delay", down)
    with caplog.at_level(logging.WARNING, logger="calls.signals"), transaction.atomic():
        agent = make_agent(**LINES)
    assert Agent.objects.filter(pk=agent.pk).exists()
    assert [r.getMessage() for r in caplog.records] == [
        f"Could not queue prepare_agent_lines({agent.pk}): OperationalError"
    ]


@pytest.mark.django_db(transaction=True)
def test_a_disabled_agent_is_not_prepared(file_store, settings):
    settings.VOICE_PROVIDER_FACTORY = SCRIPTED
    settings.SPEECH_PREPARE_LINES = True
    agent = make_agent(enabled=False, **LINES)
    assert shared_only(line_key(agent, LINES["greeting"])) is None


# ---- the answer webhook ----
@pytest.mark.django_db
def test_answers_start_one_background_preparation(client, file_store, settings, monkeypatch):
    settings.VOICE_PROVIDER_FACTORY = SCRIPTED
    settings.SPEECH_PREPARE_LINES = True
    agent = make_agent(**LINES)  # not a transaction=True test: the save's on-commit preparation never runs
    greeting = line_key(agent, LINES["greeting"])
    started = []
    run = line_prep._prepare_job
    monkeypatch.setattr(line_prep, "_prepare_job", lambda *args: (started.append(args[1].version), run(*args)))

    params = {"From": "14155550111", "To": "14155550100", "Direction": "inbound", "CallStatus": "ringing"}
    documents = [client.post("/plivo/answer/", {**params, "CallUUID": f"quick-{n}"}) for n in range(5)]
    assert shared_only(greeting) is None  # the answers did not wait for the synthesis (~3.9 s of scripted audio)
    assert all(d.status_code == 200 and b"<Stream" in d.content for d in documents)
    assert Call.objects.filter(status=Call.Status.IN_PROGRESS).count() == 5

    assert line_prep.wait_for_background(30)
    assert started == [agent.version]
    assert shared_only(greeting) == ScriptedTTS().audio_for(LINES["greeting"])
    assert shared_only(line_key(agent, "Bye now.")) == ScriptedTTS().audio_for("Bye now.")

    client.post("/plivo/answer/", {**params, "CallUUID": "later"})
    assert started == [agent.version]  # the greeting is stored: nothing to start
    assert line_prep.wait_for_background(1)


@pytest.mark.django_db
def test_answers_prepare_nothing_when_switched_off(client, file_store, settings):
    settings.VOICE_PROVIDER_FACTORY = SCRIPTED
    settings.SPEECH_PREPARE_LINES = False
    make_agent(**LINES)
    client.post("/plivo/answer/", {"CallUUID": "off", "From": "14155550111", "To": "14155550100"})
    assert line_prep.wait_for_background(1) and not file_store.exists()
