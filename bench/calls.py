#!/usr/bin/env python
"""Benchmark the live call engine: N concurrent simulated Plivo calls against the real server (see BENCHMARKS.md).

    python bench/calls.py --calls 10
    python bench/calls.py --sweep 1,10,50,100,150 --server uvicorn --json bench/results/uvicorn.json
    python bench/calls.py --providers wire --calls 10
    python bench/calls.py --calls 1 --backchannel-every 2 --stt-ms 800 --preemptive on --interruptions resume

Creates a fresh database (SQLite, or PostgreSQL from 10 calls), migrates, seeds a bench agent and number, and for
each load point starts the server (daphne or uvicorn, one process, production settings) as a subprocess, places a
warm-up call, then drives N call slots for --seconds and reads what the server recorded. Prints a table and writes
one JSON object.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import metrics  # noqa: E402
from bench.calibrate import scripted_floor_ms  # noqa: E402
from bench.db import BenchDatabase  # noqa: E402
from bench.load import PHRASES, LoadPlan, call_transcripts, run_load  # noqa: E402
from bench.options import AUTH_TOKEN, expected_reply, latency, provider_ms, seed_options, server_env  # noqa: E402
from bench.options import parse_args as parse_options  # noqa: E402
from bench.seed import NUMBER  # noqa: E402
from bench.server import (  # noqa: E402
    CpuCensus,
    ProcMonitor,
    ServerProcess,
    rss_mb,
    snapshot,
    stop_all_servers,
    wait_until_quiet,
)
from tests.server_process import VENV_BIN, manage  # noqa: E402

RESULTS = ROOT / "bench" / "results"
POSTGRES_FROM_CALLS = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_options(argv, (__doc__ or "").split("\n\n")[0])


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line))
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "git": git_rev(),
    }


def git_rev() -> str:
    """The working tree's commit (+dirty), now: others may commit while a sweep runs."""
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    return rev.strip() + ("+dirty" if _dirty() else "")


def _dirty() -> bool:
    status = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    return bool(status.strip())


def start_profiler(paths: list[str], pid: int, delay: float, duration: float) -> list[subprocess.Popen]:
    """py-spy on the server, from ``delay`` seconds on, for ``duration`` seconds (one process per output)."""
    procs: list[subprocess.Popen] = []

    def launch() -> None:
        for path in paths:
            fmt = {".txt": "raw", ".json": "speedscope"}.get(Path(path).suffix, "flamegraph")
            command = [str(VENV_BIN / "py-spy"), "record", "--pid", str(pid), "--duration", str(int(duration))]
            command += ["--rate", "50", "--nonblocking", "--threads", "--format", fmt, "-o", path]
            procs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))

    timer = threading.Timer(delay, launch)
    timer.daemon = True
    timer.start()
    procs.append(timer)  # type: ignore[arg-type]  # cancelled or joined in stop_profiler
    return procs


def stop_profiler(procs: list) -> None:
    for proc in procs:
        if isinstance(proc, threading.Timer):
            proc.cancel()
            continue
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def window_cpu(monitor: ProcMonitor, start: float, end: float) -> tuple[float | None, float | None]:
    """While all slots were active (after the ramp, before slots stop placing calls): the server's CPU % of one
    core, and the whole machine's busy % of all its cores (server, PostgreSQL, Redis, load generator)."""
    inside = [s for s in monitor.samples if start <= s.at <= end]
    if len(inside) < 2:
        return None, None
    first, last = inside[0], inside[-1]
    server = round(100 * (last.cpu_s - first.cpu_s) / (last.at - first.at), 1)
    machine = round(
        100 * (last.machine_busy_s - first.machine_busy_s) / (last.machine_total_s - first.machine_total_s), 1
    )
    return server, machine


def warm_up(server: ServerProcess, common: dict) -> float | None:
    """One short call, so that imports, caches (the greeting's audio) and connections are warm before measuring.
    Returns its greeting latency: the first call after the server started (``greeting_cold_ms``)."""
    plan = LoadPlan(**common, slots=range(1), total_slots=1, start_at=time.time(), seconds=0, turns=1, barge_every=0)
    calls = run_load(plan, 1)["calls"]
    if calls[0]["error"]:
        raise RuntimeError(f"the warm-up call failed: {calls[0]['error']}\n{server.log_tail()}")
    time.sleep(1.0)
    return calls[0]["greeting_ms"]


def first_greeting_ms(calls: list[dict]) -> float | None:
    """Without a warm-up call: the greeting latency of the call that started first (cold)."""
    first = min(calls, key=lambda c: c["started"], default=None)
    return first["greeting_ms"] if first else None


def run_point(args: argparse.Namespace, db: BenchDatabase, env: dict[str, str], n: int, workdir: Path) -> dict:
    """One load point: a fresh server, a warm-up call, N call slots for --seconds, then what the server stored."""
    print(f"\n=== {n} call(s): {args.server}, {args.providers} providers ===", flush=True)
    idle_busy = wait_until_quiet()
    app = "bench.whatif:application" if args.what_if else "voiceproject.asgi:application"
    web = (
        ServerProcess(args.server, env, workdir / f"web-{args.server}-{n}.log", app, args.root) if args.split else None
    )
    log = workdir / f"server-{args.server}-{n}.log"
    cpus = {args.audio_cpu} if args.audio_cpu is not None else None
    server = ServerProcess(args.server, env, log, app, args.root, nice=args.audio_nice, cpus=cpus).start()
    profiler: list = []
    try:
        webhooks = web.start().url if web else server.url
        common = {"base_url": webhooks, "to": NUMBER, "auth_token": AUTH_TOKEN, "ramp_s": args.ramp_s}
        if web:  # the audio sockets go to the measured server, like the proxy's /ws/plivo/ location
            common["stream_base"] = server.url
        greeting_cold = None if args.no_warm_up else warm_up(server, common)
        baseline = rss_mb(server.pid)
        procs = args.client_procs or (1 if n < 100 else 2)
        lead = 3.0 if procs > 1 else 0.5
        plan = LoadPlan(
            **common,
            slots=range(n),
            total_slots=n,
            start_at=time.time() + lead,
            seconds=args.seconds,
            turns=args.turns,
            barge_every=args.barge_in_every,
            barge_after_ms=args.barge_in_after_ms,
            backchannel_every=args.backchannel_every,
            backchannel_after_ms=args.backchannel_after_ms,
        )
        steady = (time.monotonic() + lead + args.ramp_s + 2, time.monotonic() + lead + args.seconds)
        monitor, census = ProcMonitor(server.pid), CpuCensus(server.pid, db.name, web.pid if web else None)
        monitor.start()
        census.start()
        if args.profile and n == args.profile_calls:
            profiler = start_profiler(args.profile, server.pid, lead + args.ramp_s + 2, args.seconds - args.ramp_s - 4)
        load = run_load(plan, procs)
        cpu_by_process = census.stop()
        monitor.stop()
        uuids = [c["call_uuid"] for c in load["calls"]]
        still_open = db.wait_streams_ended(uuids)
        records = db.records(uuids)
        resumed_column = db.has_column("calls_turn", "resumed")
        log = server.log_tail(2_000_000)
    finally:
        stop_profiler(profiler)
        server.stop()
        if web:
            web.stop()
    summary = metrics.summarize_point(
        load["calls"],
        records,
        args.provider_ms,
        latency(args).xyz_ms,
        args.floor_ms,
        plan.start_at + args.ramp_s + 1,
        expected_reply(args),
        resumed_column,
    )
    if args.no_warm_up:
        greeting_cold = first_greeting_ms(load["calls"])
    point = {"calls": n, "git": args.source_commit or git_rev(), "greeting_cold_ms": greeting_cold, **summary}
    point["split"] = bool(web)  # "server" below is then the audio process alone
    point["audio_nice"], point["audio_cpu"] = args.audio_nice, args.audio_cpu
    point["server"] = server_figures(monitor, steady, baseline, n, log) | {"streams_still_open": still_open}
    point["machine"] = {"busy_before_pct": idle_busy, "cpu_pct_of_one_core": with_pool_workers(cpu_by_process, load)}
    point["client"] = {
        "processes": load["processes"],
        "cpu_pct": load["cpu_pct"],
        "loop_lag_ms": metrics.spread(load["loop_lag_ms"], 50, 99),
    }
    if args.raw:
        point["raw_calls"] = [
            {k: v for k, v in c.items() if k != "lateness_ms"}
            | {"server_stream": getattr(records.get(c["call_uuid"]), "stream", None)}
            for c in load["calls"]
        ]
    point["targets"] = metrics.targets(point, n, args.providers)
    point["all_pass"] = all(t["pass"] for t in point["targets"].values())
    point["targets_turn_taking"] = metrics.turn_taking_targets(point, n)
    print(metrics.table([point]), flush=True)
    return point


def server_figures(monitor: ProcMonitor, steady: tuple[float, float], baseline: float, n: int, log: str) -> dict:
    """CPU (average, busiest second, steady state), RSS (baseline, peak, per call) and errors in the log."""
    usage = monitor.summary()
    peak = usage["rss_peak_mb"]
    cpu_steady, machine_busy = window_cpu(monitor, *steady)
    return {
        **usage,
        "cpu_steady_pct": cpu_steady,
        "machine_busy_pct": machine_busy,
        "rss_baseline_mb": round(baseline, 1),
        "rss_per_call_mb": round((peak - baseline) / n, 2) if peak else None,
        "log_errors": sum(1 for line in log.splitlines() if " ERROR " in line or line.startswith("Traceback")),
        "log_exceptions": log_exceptions(log),
    }


def with_pool_workers(cpu_by_process: dict[str, float], load: dict) -> dict[str, float]:
    """Load-generator pool workers exit before the CPU census ends: count the CPU they reported themselves."""
    if load["processes"] > 1:
        client_cpu = sum(load["cpu_pct"])
        cpu_by_process["unattributed"] = round(max(0.0, cpu_by_process["unattributed"] - client_cpu), 1)
        cpu_by_process["load generator"] = round(cpu_by_process.get("load generator", 0.0) + client_cpu, 1)
    return cpu_by_process


def log_exceptions(log: str, top: int = 5) -> dict[str, int]:
    """The most frequent exception messages in the server log (e.g. "OperationalError: database is locked")."""
    found = Counter(
        re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "<uuid>", line)[:160]
        for line in log.splitlines()
        if re.match(r"^[\w.]+(Error|Exception|Timeout)\b.*: ", line)
    )
    return dict(found.most_common(top))


def capacity(points: list[dict]) -> int | None:
    """The largest N whose point met every target."""
    passing = [p["calls"] for p in points if p["all_pass"]]
    return max(passing) if passing else None


def keep_or_remove(workdir: Path, keep: bool) -> None:
    if keep:
        print(f"server logs kept in {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def redis_is_empty(url: str) -> bool:
    import redis

    return redis.Redis.from_url(url).dbsize() == 0


def redis_flush(url: str) -> None:
    """Empty the bench's Redis database (its Celery queue fills up: no worker runs during the benchmark)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    atexit.register(stop_all_servers)
    if args.audio_cpu is not None:  # the load generator and the web process (children) keep off its CPU
        os.sched_setaffinity(0, set(range(os.cpu_count() or 1)) - {args.audio_cpu})
    RESULTS.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=RESULTS if args.keep_workdir else None))
    use_pg = (
        args.database_url or args.db == "postgres" or (args.db == "auto" and max(args.points) >= POSTGRES_FROM_CALLS)
    )
    result: dict = {"machine": machine(), "config": {k: v for k, v in vars(args).items() if k != "profile"}}
    with ExitStack() as stack:
        if not args.no_redis:
            if redis_is_empty(args.redis_url):
                stack.callback(redis_flush, args.redis_url)
            else:
                print(f"note: {args.redis_url} is not empty; it will not be flushed afterwards", file=sys.stderr)
        stack.push(lambda kind, *_: keep_or_remove(workdir, args.keep_workdir or kind is not None))
        if use_pg and not args.database_url:
            db = BenchDatabase.create_owned("127.0.0.1:5432", f"bench_{os.getpid()}", workdir)
        else:
            db = BenchDatabase.create(args.database_url, workdir)
        stack.callback(db.drop)
        stack.callback(stop_all_servers)
        args.root, args.source_commit = ROOT, ""
        if args.source:
            args.root = workdir / "src"
            args.source_commit, fakes = snapshot(args.source, args.root, own_fakes=args.source_own_fakes)
            result["machine"]["git"] = f"{args.source_commit} (snapshot, {fakes} scripted providers)"
        result["config"]["seed_notes"] = notes = db.prepare(json.dumps(seed_options(args)), args.root)
        for note in notes:
            print(note, file=sys.stderr)
        fakes: dict[str, str] = {}
        if args.providers == "wire":
            from bench.wire import wire_fakes

            transcripts = tuple(call_transcripts(args.turns, args.backchannel_every))
            fakes = stack.enter_context(wire_fakes(latency(args), PHRASES[0], transcripts))
        env = server_env(args, db, fakes)
        if (args.root / "calls/management/commands/prepare_lines.py").exists():
            # what the Celery worker does when the agent is saved (the bench runs no worker)
            print(manage(env, "prepare_lines", root=args.root).strip(), file=sys.stderr)
        else:
            notes.append("note: this commit cannot prepare the agent's lines before the first call")
            print(notes[-1], file=sys.stderr)
        args.provider_ms = provider_ms(args)
        args.floor_ms = scripted_floor_ms(latency(args), PHRASES[0]) if args.providers == "scripted" else None
        result["config"] |= {"database": "postgresql" if db.is_postgres else "sqlite"}
        nominal = args.provider_ms(1) if args.provider_ms else None
        result["config"] |= {"provider_ms_turn_1": nominal, "provider_floor_ms": args.floor_ms}
        result["points"] = points = []
        out = Path(args.json or RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.server}-{args.providers}.json")
        for n in args.points:
            points.append(run_point(args, db, env, n, workdir))
            result["capacity_calls"] = capacity(points)
            out.write_text(json.dumps(result, indent=2))  # after every point: a later failure keeps these
    print(f"\n{args.server}, {args.providers} providers, {result['config']['database']}:")
    print(metrics.table(points))
    print(f"\nLargest N meeting all targets: {result['capacity_calls']}   (JSON: {out})")
    return result


if __name__ == "__main__":
    main()
