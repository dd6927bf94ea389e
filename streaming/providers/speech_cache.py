"""Synthesized audio of an agent's fixed lines (greeting, goodbye, fallback, reprompt, transfer), kept at two levels.

- **Local**: a bounded LRU in this process (``get`` / ``put``): no I/O, what the live call reads first.
- **Shared**: one store every server process reads (``fetch`` / ``publish``, and ``fetch_shared`` /
  ``publish_shared`` for threads and Celery): Django's ``default`` cache when ``settings.REDIS_URL`` is set (Redis),
  else files under ``MEDIA_ROOT/speech-cache``. Entries expire after ``TTL_SECONDS``; lines over ``MAX_STORED_BYTES``
  are kept locally only. A store that is down or slow is a miss: logged (at most once a minute), never raised.

A line's key is ``(TTS class, voice, language, rate, text)``: what decides the audio, and nothing else (an agent's
new version, e.g. a changed FAQ, reuses the lines it did not change). The shared store names it
``speech-line:<sha256 of the key's repr>``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.core.cache import caches

from streaming.providers.base import TextToSpeech
from streaming.providers.config import CallConfig

log = logging.getLogger(__name__)

TTL_SECONDS = 30 * 24 * 3600
MAX_STORED_BYTES = 2 * 1024 * 1024  # ~4 minutes of 8 kHz μ-law: no fixed line is that long
FETCH_TIMEOUT_S = 1.0  # a store slower than this is a miss (the line is synthesized as before)
PUBLISH_TIMEOUT_S = 5.0
LOG_INTERVAL_S = 60.0
STORE_DIR = "speech-cache"
CACHE_ALIAS = "default"


def store_name(key: tuple) -> str:
    """The shared store's name of a line key: a readable prefix and the sha256 of the key's repr."""
    return "speech-line:" + hashlib.sha256(repr(key).encode("utf-8")).hexdigest()


class SharedStore(Protocol):
    kind: str

    def get(self, name: str) -> bytes | None: ...
    def has(self, name: str) -> bool: ...
    def set(self, name: str, audio: bytes) -> None: ...


class CacheStore:
    """Django's cache (Redis when REDIS_URL is set): shared by every process using it."""

    kind = "cache"

    def __init__(self, alias: str = CACHE_ALIAS) -> None:
        self.alias = alias

    def get(self, name: str) -> bytes | None:
        audio = caches[self.alias].get(name)
        return audio if isinstance(audio, bytes) else None

    def has(self, name: str) -> bool:
        return bool(caches[self.alias].has_key(name))

    def set(self, name: str, audio: bytes) -> None:
        caches[self.alias].set(name, audio, timeout=TTL_SECONDS)


class FileStore:
    """One file per line under ``root`` (written to a temp file, then renamed: a reader never sees half a line)."""

    kind = "file"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, name: str) -> Path:
        return self.root / (name.rpartition(":")[2] + ".ulaw")

    def _fresh(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        return time.time() - stat.st_mtime < TTL_SECONDS and stat.st_size <= MAX_STORED_BYTES

    def get(self, name: str) -> bytes | None:
        path = self._path(name)
        if not self._fresh(path):
            return None
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def has(self, name: str) -> bool:
        return self._fresh(self._path(name))

    def set(self, name: str, audio: bytes) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".ulaw")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(audio)
            os.replace(temp, self._path(name))
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def shared_store() -> SharedStore:
    """The store the settings choose now: the Django cache with REDIS_URL, else files under MEDIA_ROOT."""
    if getattr(settings, "REDIS_URL", ""):
        return CacheStore()
    return FileStore(Path(settings.MEDIA_ROOT) / STORE_DIR)


class _Throttle:
    """At most one warning per ``LOG_INTERVAL_S`` about a failing store, without its address or credentials."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = float("-inf")

    def report(self, store: SharedStore, action: str, exc: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < LOG_INTERVAL_S:
                return
            self._last = now
        reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        log.warning("Speech line store (%s): %s failed (%s); treated as a miss", store.kind, action, reason)


_throttle = _Throttle()


class _LocalLines:
    """The process-local LRU (thread-safe: a background preparation may fill it)."""

    def __init__(self, max_entries: int) -> None:
        self.entries: OrderedDict[tuple, bytes] = OrderedDict()
        self.max = max_entries
        self.lock = threading.Lock()


class SpeechCache:
    """Synthesized audio of fixed lines per voice: a local bounded LRU in front of a shared store."""

    def __init__(self, max_entries: int = 512, store: SharedStore | None = None) -> None:
        self._local = _LocalLines(max_entries)
        self._store = store

    def bound(self, store: SharedStore | None = None) -> SpeechCache:
        """This cache (same local LRU) tied to ``store`` (default: the one the settings choose now), for work that
        may outlive the settings it started under."""
        view = SpeechCache.__new__(SpeechCache)
        view._local, view._store = self._local, store or self.store()
        return view

    def store(self) -> SharedStore:
        return self._store or shared_store()

    # ---- local (sync, no I/O) ----
    def clear(self) -> None:
        with self._local.lock:
            self._local.entries.clear()

    @staticmethod
    def key(tts: TextToSpeech, voice: str, language: str, rate: float, text: str) -> tuple:
        return named_key(type(tts).__qualname__, voice, language, rate, text)

    @staticmethod
    def line_key(tts: TextToSpeech, config: CallConfig, text: str) -> tuple:
        """The key of ``text`` spoken by ``tts`` with ``config``'s voice, language and rate. Not the agent's version:
        the same words in the same voice are the same audio, so a new version (a changed FAQ) reuses its lines."""
        return SpeechCache.key(tts, config.voice, config.language, config.speaking_rate, text)

    def get(self, key: tuple) -> bytes | None:
        with self._local.lock:
            audio = self._local.entries.get(key)
            if audio is not None:
                self._local.entries.move_to_end(key)
            return audio

    def put(self, key: tuple, audio: bytes) -> None:
        local = self._local
        with local.lock:
            local.entries[key] = audio
            local.entries.move_to_end(key)
            while len(local.entries) > local.max:
                local.entries.popitem(last=False)

    # ---- shared (async: never blocks the event loop, never raises) ----
    async def fetch(self, key: tuple) -> bytes | None:
        """The line's audio: local, else from the shared store (then kept locally); None on a miss."""
        if (audio := self.get(key)) is not None:
            return audio
        store = self.store()
        audio = await self._await(store, "read", asyncio.to_thread(store.get, store_name(key)), FETCH_TIMEOUT_S)
        if audio is not None:
            self.put(key, audio)
        return audio

    async def publish(self, key: tuple, audio: bytes) -> None:
        """Keep ``audio`` locally and in the shared store (lines over MAX_STORED_BYTES: locally only)."""
        self.put(key, audio)
        if len(audio) <= MAX_STORED_BYTES:
            store = self.store()
            await self._await(store, "write", asyncio.to_thread(store.set, store_name(key), audio), PUBLISH_TIMEOUT_S)

    async def in_store(self, key: tuple) -> bool:
        """Whether the shared store holds the line (a store that is down: False)."""
        store = self.store()
        found = await self._await(store, "lookup", asyncio.to_thread(store.has, store_name(key)), FETCH_TIMEOUT_S)
        return bool(found)

    @staticmethod
    async def _await(store: SharedStore, action: str, work, timeout: float):
        try:
            return await asyncio.wait_for(work, timeout)
        except Exception as exc:
            _throttle.report(store, action, exc)
            return None

    # ---- shared (sync, for threads and Celery; never raises) ----
    def fetch_shared(self, key: tuple) -> bytes | None:
        if (audio := self.get(key)) is not None:
            return audio
        store = self.store()
        try:
            audio = store.get(store_name(key))
        except Exception as exc:
            _throttle.report(store, "read", exc)
            return None
        if audio is not None:
            self.put(key, audio)
        return audio

    def publish_shared(self, key: tuple, audio: bytes) -> None:
        self.put(key, audio)
        if len(audio) > MAX_STORED_BYTES:
            return
        store = self.store()
        try:
            store.set(store_name(key), audio)
        except Exception as exc:
            _throttle.report(store, "write", exc)

    def in_store_sync(self, key: tuple) -> bool:
        store = self.store()
        try:
            return store.has(store_name(key))
        except Exception as exc:
            _throttle.report(store, "lookup", exc)
            return False


def named_key(tts_name: str, voice: str, language: str, rate: float, text: str) -> tuple:
    """``SpeechCache.key`` from the TTS class name rather than an instance."""
    return (tts_name, voice, language, rate, text)


speech_cache = SpeechCache()
