"""Fixed lines synthesized before the call that needs them, into the shared speech store.

``prepare_lines`` fills the store for one agent version with the TTS the live calls use; ``prepare_lines_sync`` runs
it where there is no event loop (Celery: an agent was saved); ``prepare_in_background`` starts it in a daemon thread
when a call is answered and the greeting is not stored yet (one thread per line set and process at a time).
Nothing here raises: a failure is logged, and the call synthesizes the line itself as it always could.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from django.conf import settings

from streaming.providers.base import TextToSpeech
from streaming.providers.config import CallConfig
from streaming.providers.registry import load
from streaming.providers.speech_cache import SpeechCache, named_key, speech_cache

log = logging.getLogger(__name__)

LINE_TIMEOUT_S = 30.0  # one line's synthesis; the call would not wait this long either
CLOSE_TIMEOUT_S = 10.0


def fixed_lines(config: CallConfig) -> list[str]:
    """The config's non-empty fixed lines, greeting first, each once."""
    lines = (config.greeting, config.goodbye_message, config.fallback_line, config.reprompt_text, config.transfer_line)
    return list(dict.fromkeys(line for line in lines if line))


def enabled() -> bool:
    """``settings.SPEECH_PREPARE_LINES`` (default on): whether saves and answers prepare lines ahead of calls."""
    return bool(getattr(settings, "SPEECH_PREPARE_LINES", True))


async def prepare_lines(
    config: CallConfig, tts: TextToSpeech, cache: SpeechCache | None = None, *, start: bool = False
) -> int:
    """Synthesize (concurrently) each fixed line the shared store lacks and publish it; returns how many were
    synthesized. A line this process already holds is published without synthesis. With ``start``, ``tts.start()``
    runs first, and only when a line is missing. Never raises (a TTS that fails to start: 0)."""
    cache = cache or speech_cache
    try:
        keys = {text: cache.line_key(tts, config, text) for text in fixed_lines(config)}
        stored = await asyncio.gather(*(cache.in_store(key) for key in keys.values()))
        missing = [(text, key) for (text, key), found in zip(keys.items(), stored, strict=True) if not found]
        if missing and start:
            await tts.start()
        done = await asyncio.gather(*(_prepare_line(cache, tts, config, text, key) for text, key in missing))
    except Exception as exc:
        log.warning("Preparing the fixed lines of %s v%s failed: %s", config.name, config.version, _describe(exc))
        return 0
    return sum(done)


async def _prepare_line(cache: SpeechCache, tts: TextToSpeech, config: CallConfig, text: str, key: tuple) -> bool:
    """Publish one line the store lacks: this process's copy, else a new synthesis (True)."""
    if (audio := cache.get(key)) is not None:
        await cache.publish(key, audio)
        return False
    try:
        async with asyncio.timeout(LINE_TIMEOUT_S):
            audio = b"".join([chunk async for chunk in tts.speak(text)])
    except Exception as exc:  # ProviderError, a timeout, anything: this line stays unprepared
        log.warning("Preparing a fixed line of %s v%s failed: %s", config.name, config.version, _describe(exc))
        return False
    if not audio:
        return False
    await cache.publish(key, audio)
    return True


def _describe(exc: BaseException) -> str:
    return "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"


async def prepare_with_providers(
    config: CallConfig, factory_path: str | None = None, cache: SpeechCache | None = None
) -> int:
    """``prepare_lines`` with a TTS from the provider factory the live calls use (``settings.VOICE_PROVIDER_FACTORY``
    unless ``factory_path`` names one); all three providers are closed afterwards. Never raises."""
    factory_path = factory_path or settings.VOICE_PROVIDER_FACTORY
    try:
        stt, llm, tts = load(factory_path)(config)
    except Exception:
        log.exception("Creating the providers to prepare the lines of %s v%s failed", config.name, config.version)
        return 0
    try:
        _tts_names[(factory_path, config.tts_provider)] = type(tts).__qualname__
        return await prepare_lines(config, tts, cache, start=True)
    finally:
        for provider in (stt, llm, tts):
            try:
                await asyncio.wait_for(provider.close(), CLOSE_TIMEOUT_S)
            except Exception:
                log.warning("Closing %s failed", type(provider).__name__, exc_info=True)


def run_coroutine(work: Callable[[], Coroutine[Any, Any, int]]) -> int:
    """Run ``work()`` to completion from sync code: here, or in a fresh thread when this one runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(work())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="prepare-lines") as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


def prepare_lines_sync(config: CallConfig) -> int:
    """``prepare_with_providers`` for callers without an event loop (Celery, a thread). Never raises."""
    try:
        return run_coroutine(lambda: prepare_with_providers(config))
    except Exception:
        log.exception("Preparing the lines of %s v%s failed", config.name, config.version)
        return 0


# ---- in the background, when a call is answered ----
_lock = threading.Lock()
_running: dict[tuple, threading.Thread] = {}  # the line sets being prepared in this process
_tts_names: dict[tuple[str, str], str] = {}  # (factory, TTS choice) → the class its TTS turned out to be


def greeting_stored(config: CallConfig, first_line: str, factory_path: str, cache: SpeechCache) -> bool:
    """Whether this process, or the shared store, holds ``first_line``; False when the TTS class that would speak
    it is not known yet (only a preparation learns it, from the factory)."""
    name = _tts_names.get((factory_path, config.tts_provider))
    if name is None:
        return False
    key = named_key(name, config.voice, config.language, config.speaking_rate, first_line)
    return cache.get(key) is not None or cache.in_store_sync(key)


def prepare_in_background(config: CallConfig) -> bool:
    """Prepare ``config``'s lines in a daemon thread unless its greeting is stored or the same preparation is already
    running in this process; True when a thread was started. Returns at once, never raises."""
    lines = fixed_lines(config)
    if not lines or not enabled():
        return False
    try:
        # the store and the factory the settings choose now: the thread may outlive them (a test's settings)
        cache, factory_path = speech_cache.bound(), settings.VOICE_PROVIDER_FACTORY
        if greeting_stored(config, lines[0], factory_path, cache):
            return False
        voice = (config.tts_provider, config.voice, config.language, config.speaking_rate)
        job = (factory_path, *voice, tuple(lines))
        with _lock:
            if job in _running:
                return False
            thread = threading.Thread(
                target=_prepare_job, args=(job, config, factory_path, cache), name="prepare-lines", daemon=True
            )
            _running[job] = thread
        try:
            thread.start()
        except BaseException:
            with _lock:
                _running.pop(job, None)
            raise
        return True
    except Exception:
        log.exception("Could not start preparing the lines of %s v%s", config.name, config.version)
        return False


def _prepare_job(job: tuple, config: CallConfig, factory_path: str, cache: SpeechCache) -> None:
    try:
        count = run_coroutine(lambda: prepare_with_providers(config, factory_path, cache))
        if count:
            log.info("Prepared %d fixed line(s) of %s v%s", count, config.name, config.version)
    except Exception:
        log.exception("Preparing the lines of %s v%s failed", config.name, config.version)
    finally:
        with _lock:
            _running.pop(job, None)


def wait_for_background(timeout: float = 30.0) -> bool:
    """Join the running background preparations (tests, shutdown); True when none is left."""
    with _lock:
        threads = list(_running.values())
    for thread in threads:
        thread.join(timeout)
    with _lock:
        return not _running
