#!/usr/bin/env python
"""Summarize a py-spy raw profile (``py-spy record --format raw --threads``): where the server's CPU goes.

    python bench/profile_top.py bench/results/profile-100.txt [--top 30]

Prints the share of samples per thread, per subsystem (the file a sample's innermost frame is in, grouped),
the top functions by self time, and the top functions by inclusive time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
SUBSYSTEMS = (  # first match wins: (label, substring of the innermost frame's file)
    ("scripted providers (bench stand-ins)", "tests/fakes/scripted"),
    ("engine: streaming/ (ours)", "/streaming/"),
    ("calls/ agents/ (ours)", "/calls/"),
    ("calls/ agents/ (ours)", "/agents/"),
    ("twisted reactor / daphne", "twisted/"),
    ("twisted reactor / daphne", "daphne/"),
    ("autobahn websocket protocol", "autobahn/"),
    ("uvicorn", "uvicorn/"),
    ("websockets library", "websockets/"),
    ("channels (consumer, layers)", "channels/"),
    ("channels-redis / redis-py", "channels_redis/"),
    ("channels-redis / redis-py", "redis/"),
    ("asgiref (sync_to_async)", "asgiref/"),
    ("django ORM / db backend", "django/db/"),
    ("django (other)", "django/"),
    ("psycopg", "psycopg"),
    ("asyncio event loop", "asyncio/"),
    ("json", "json/"),
    ("threading / concurrent.futures", "threading.py"),
    ("threading / concurrent.futures", "concurrent/"),
    ("logging", "logging/"),
)


MARKERS = (  # (label, substring of any frame): inclusive share of samples whose stack contains it
    # (server transports are not markers: their event loop is at the root of every main-thread stack; see the
    # "By subsystem" block, which attributes a sample to the file of its innermost frame)
    ("channels per-message DB hop (AsyncConsumer.dispatch → aclose_old_connections)", "aclose_old_connections"),
    ("any sync_to_async hop (SyncToAsync.__call__, both sides)", "SyncToAsync."),
    ("calls/records.py (engine DB writes)", "calls/records.py"),
    ("calls/plivo/webhooks.py (Plivo HTTP webhooks)", "calls/plivo/webhooks.py"),
    ("calls/live.py + channels_redis (live-page events)", "channels_redis"),
    ("PostgreSQL driver (psycopg)", "psycopg"),
    ("connecting to PostgreSQL", "_connect_gen"),
    ("scripted TTS tone synthesis (bench stand-in)", "tests/fakes/scripted.py:150"),
    ("streaming/playback.py (Player: pacing, playAudio)", "streaming/playback.py"),
    ("Listener.read_audio (VAD, STT feed)", "Listener.read_audio"),
    ("PlivoStreamConsumer.receive (codec, feed)", "PlivoStreamConsumer.receive"),
)


# Innermost frames where a thread is blocked, not computing, that py-spy's --nonblocking sampling still reports
# as active: executor workers waiting for work, psycopg waiting for PostgreSQL's answer, lock/condition waits,
# the selector's poll. Left out unless --keep-waits.
WAITS = (
    "_worker (",
    "Connection.wait (",
    "Condition.wait (",
    "EpollSelector.select (",
    "_wait_for_tstate_lock (",
    "Semaphore.acquire (",
)


def parse(path: Path, keep_waits: bool = False) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not (stack and count.isdigit()):
            continue
        frames = stack.split(";")
        if keep_waits or not any(w in frames[-1] for w in WAITS):
            stacks.append((frames, int(count)))
    return stacks


def short(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['func']} ({file}:{match['line'] or '?'})"


def subsystem(frames: list[str]) -> str:
    innermost = next((f for f in reversed(frames) if "(" in f), "")
    for label, marker in SUBSYSTEMS:
        if marker in innermost:
            return label
    return "other: " + short(innermost).split(" (", 1)[-1].split(":", 1)[0]


def report(stacks: list[tuple[list[str], int]], top: int) -> str:
    total = sum(count for _, count in stacks) or 1
    threads, groups, own, inclusive = Counter(), Counter(), Counter(), Counter()
    for frames, count in stacks:
        thread = frames[0] if frames and frames[0].startswith(("thread", "process")) else "?"
        body = frames[1:] if thread != "?" else frames
        threads[re.sub(r"\(0x[0-9A-Fa-f]+\)", "", thread).strip()] += count
        groups[subsystem(body)] += count
        if body:
            own[short(body[-1])] += count
        for name in {short(f) for f in body}:
            inclusive[name] += count

    def block(title: str, counter: Counter, n: int) -> list[str]:
        rows = [f"\n{title}"]
        rows += [f"  {100 * c / total:5.1f}%  {name}" for name, c in counter.most_common(n)]
        return rows

    lines = [f"{total} samples (idle and blocked-in-wait samples excluded)"]
    lines += ["\nInclusive share of stacks containing:"]
    for label, marker in MARKERS:
        share = sum(count for frames, count in stacks if any(marker in f for f in frames))
        lines.append(f"  {100 * share / total:5.1f}%  {label}")
    lines += block("By thread:", threads, 10)
    lines += block("By subsystem (innermost frame):", groups, 25)
    lines += block("Top functions, self time:", own, top)
    lines += block("Top functions, inclusive time:", inclusive, top)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep-waits", action="store_true", help="count samples blocked in WAITS frames too")
    args = parser.parse_args()
    print(report(parse(args.profile, args.keep_waits), args.top))


if __name__ == "__main__":
    main()
