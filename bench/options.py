"""bench/calls.py's command line, and what follows from it: the seeded agent's options, the server's environment,
the providers' own time per turn and the reply the scripted LLM gives."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bench import metrics
from bench.db import BenchDatabase
from bench.load import PHRASES, call_transcripts, phrase_of_turn
from bench.server import base_env
from tests.server_process import SCRIPTED_FACTORY

AUTH_TOKEN = "bench-plivo-auth-token"


def parse_args(argv: list[str] | None = None, description: str = "") -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--calls", type=int, default=10, help="concurrent calls (one load point)")
    p.add_argument("--sweep", help="comma-separated call counts, e.g. 1,10,50,100,150 (overrides --calls)")
    p.add_argument("--seconds", type=float, default=30.0, help="each slot places calls back to back this long")
    p.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    p.add_argument("--providers", choices=("scripted", "offline", "wire"), default="scripted")
    p.add_argument(
        "--stt-ms",
        type=int,
        default=150,
        help="STT endpoint delay: the final this long after the caller's speech (wire: after the segmentation silence)",
    )
    p.add_argument("--llm-ms", type=int, default=300)
    p.add_argument("--tts-ms", type=int, default=100)
    p.add_argument("--tokens-per-s", type=int, default=50)
    p.add_argument("--turns", type=int, default=3, help="caller turns per call")
    p.add_argument("--barge-in-every", type=int, default=3, help="every K-th caller turn interrupts (0: never)")
    p.add_argument("--barge-in-after-ms", type=int, default=600, help="…this long after the reply's first audio")
    p.add_argument(
        "--backchannel-every", type=int, default=0, help='over every K-th reply the caller says "mm-hmm" (0: never)'
    )
    p.add_argument("--backchannel-after-ms", type=int, default=600, help="…this long after the reply's first audio")
    agent = p.add_argument_group("the bench agent (set only where this commit's Agent model has the field)")
    agent.add_argument("--interruptions", choices=("resume", "words"), help="Agent.interruption_mode")
    agent.add_argument("--preemptive", choices=("on", "off"), help="Agent.preemptive_reply")
    agent.add_argument(
        "--end-of-speech-ms",
        type=int,
        help="Agent.end_of_speech_ms: the VAD, and with wire providers the Azure segmentation silence (600)",
    )
    p.add_argument("--no-warm-up", action="store_true", help="no warm-up call: the first measured call is cold")
    p.add_argument(
        "--split",
        action="store_true",
        help="the production split: webhooks to a web process, audio sockets to the measured audio process",
    )
    p.add_argument(
        "--audio-nice",
        type=int,
        default=0,
        help="the measured server's niceness (e.g. -10: its CPU before the load generator's, the web process's and\n"
        "the database's on these shared cores, as audio processes on cores of their own in production; needs root)",
    )
    p.add_argument(
        "--audio-cpu",
        type=int,
        help="pin the measured server to this CPU and everything else the bench starts (load generator, web\n"
        "process) to the others: the audio process on a core of its own (PostgreSQL and Redis stay unpinned)",
    )
    p.add_argument("--ramp-s", type=float, default=2.0, help="call slots start staggered over this long")
    p.add_argument("--client-procs", type=int, default=0, help="load processes (0: 1 below 100 calls, else 2)")
    p.add_argument("--database-url", help="postgres://…/bench_x to use (created and dropped here)")
    p.add_argument(
        "--db", choices=("auto", "sqlite", "postgres"), default="auto", help="auto: PostgreSQL from 10 calls"
    )
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/13", help="channel layer + Celery broker")
    p.add_argument("--no-redis", action="store_true", help="in-memory channel layer, eager Celery")
    p.add_argument("--profile", action="append", default=[], help="py-spy output (.svg, .txt raw, .json)")
    p.add_argument("--profile-calls", type=int, default=100, help="profile the point with this many calls")
    p.add_argument("--what-if", default="", help="comma-separated bench/whatif.py patches (engine fixes to try)")
    p.add_argument("--json", help="write the JSON result here (default: bench/results/<time>-<mode>.json)")
    p.add_argument("--source", help="run the server from this git revision (a snapshot; default: the working tree)")
    p.add_argument(
        "--source-own-fakes",
        action="store_true",
        help="with --source: keep that revision's tests/fakes/scripted.py (default: this tree's, the same workload)",
    )
    p.add_argument("--keep-workdir", action="store_true", help="keep server logs and SQLite in bench/results/")
    p.add_argument("--raw", action="store_true", help="also store every call's client-side figures in the JSON")
    args = p.parse_args(argv)
    args.points = [int(n) for n in args.sweep.split(",")] if args.sweep else [args.calls]
    return args


def latency(args: argparse.Namespace) -> metrics.Latency:
    return metrics.Latency(args.stt_ms, args.llm_ms, args.tts_ms, args.tokens_per_s)


def seed_options(args: argparse.Namespace) -> dict:
    """Agent fields for bench/seed.py (which drops those the server's commit does not have)."""
    options: dict = {}
    if args.end_of_speech_ms is not None:
        options["end_of_speech_ms"] = args.end_of_speech_ms
    if args.interruptions:
        options["interruption_mode"] = args.interruptions
    if args.preemptive:
        options["preemptive_reply"] = args.preemptive == "on"
    return options


def server_env(args: argparse.Namespace, db: BenchDatabase, fakes: dict[str, str]) -> dict[str, str]:
    extra = {"PLIVO_AUTH_TOKEN": AUTH_TOKEN, "BENCH_WHATIF": args.what_if, **fakes}
    if not args.no_redis:
        extra["REDIS_URL"] = args.redis_url
    if args.providers == "scripted":
        extra |= {
            "VOICE_PROVIDER_FACTORY": SCRIPTED_FACTORY,
            "SCRIPTED_STT_MS": str(args.stt_ms),
            "SCRIPTED_LLM_MS": str(args.llm_ms),
            "SCRIPTED_TTS_MS": str(args.tts_ms),
            "SCRIPTED_TOKENS_PER_S": str(args.tokens_per_s),
            "SCRIPTED_TRANSCRIPTS": "|".join(call_transcripts(args.turns, args.backchannel_every)),
        }
    return base_env(db.url, db.media, **extra)


def first_sentence_tokens(text: str) -> int:
    return len(text.split(". ", 1)[0].split(" "))


def provider_ms(args: argparse.Namespace) -> Callable[[int], float] | None:
    """Per caller turn: the time the providers themselves take (None for offline: not scripted)."""
    if args.providers == "offline":
        return None
    from bench.wire import reply_text, stt_early_ms

    nominal = latency(args).provider_ms(first_sentence_tokens(reply_text(PHRASES[0])))
    if args.providers == "scripted":
        return lambda turn: nominal
    return lambda turn: nominal - stt_early_ms(phrase_of_turn(turn))


def expected_reply(args: argparse.Namespace) -> Callable[[str], str] | None:
    """The agent's full reply to the caller's words: the scripted LLM echoes them, the wire fakes always answer
    the first phrase's echo; None for offline (the responder's answers are not known here)."""
    if args.providers == "offline":
        return None
    from bench.wire import reply_text

    if args.providers == "scripted":
        return reply_text
    return lambda heard: reply_text(PHRASES[0])
