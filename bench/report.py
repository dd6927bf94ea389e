#!/usr/bin/env python
"""Markdown tables from bench/calls.py JSON results (for BENCHMARKS.md).

python bench/report.py bench/results/daphne-scripted.json bench/results/uvicorn-scripted.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.metrics import table

TARGET_LABELS = {
    "engine_overhead_p95": "overhead p95",
    "greeting_p95": "greeting p95",
    "barge_in_p95": "barge-in p95",
    "frames_dropped": "dropped",
    "inbound_lag_p99": "in-lag p99",
    "pacing_jitter_p99": "jitter p99",
    "turns_missing": "turns missing",
    "rss_per_call": "MB/call",
    # the turn-taking issue's (not part of "all", which decides the capacity)
    "clear_barge_in_p95": "clear barge-in p95",
    "clear_backchannel_p95": "clear mm-hmm p95",
    "resume_p95": "resume p95",
    "resume_words_lost": "words lost",
    "holes_over_40ms": "holes > 40 ms",
    "greeting_p95_50": "greeting p95",
    "greeting_cold": "greeting cold",
}


def all_targets(point: dict) -> dict:
    return {**point["targets"], **point.get("targets_turn_taking", {})}


def _v(value: object) -> str:
    if value is None:
        return "—"
    return (
        f"{value:.1f}"
        if isinstance(value, float) and value % 1
        else str(int(value) if isinstance(value, float) else value)
    )


def targets_table(points: list[dict]) -> str:
    names = [n for n in TARGET_LABELS if any(n in all_targets(p) for p in points)]
    limits = {n: next(all_targets(p)[n]["limit"] for p in points if n in all_targets(p)) for n in names}
    limits["engine_overhead_p95"] = "10 at 1 call, else 30"
    rows = ["| N | " + " | ".join(f"{TARGET_LABELS[n]} (≤ {_v(limits[n])})" for n in names) + " | all |"]
    rows.append("|---" * (len(names) + 2) + "|")
    for p in points:
        cells = []
        for n in names:
            t = all_targets(p).get(n)
            cells.append("—" if t is None else f"{_v(t['value'])} {'✅' if t['pass'] else '❌'}")
        rows.append(f"| {p['calls']} | " + " | ".join(cells) + f" | {'✅' if p['all_pass'] else '❌'} |")
    return "\n".join(rows)


def detail_table(points: list[dict]) -> str:
    """Server-side latency steps, steady-state (after the start burst) figures and who used the CPU."""
    rows = [
        "| N | server v2v p50/p95 | stt / llm / tts / send p50 | after ramp: greeting p95, v2v p95, in-lag p99 max"
        " | net overhead p50/p95 | CPU % of a core: server / load gen / postgres / other | client loop lag p99 |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lat = p["server_latency"]
        step = "/".join(_v(lat.get(k, {}).get("p50")) for k in ("stt_ms", "llm_ms", "tts_ms", "send_ms"))
        ramp = p.get("after_ramp", {})
        after = ", ".join(
            [
                _v(ramp.get("greeting_ms", {}).get("p95")),
                _v(ramp.get("voice_to_voice_ms", {}).get("p95")),
                _v(ramp.get("inbound_lag_p99_ms", {}).get("max_over_calls")),
            ]
        )
        net = p.get("engine_overhead_net_ms", {})
        cpu = p.get("machine", {}).get("cpu_pct_of_one_core", {})
        other = sum(v for k, v in cpu.items() if k in ("other processes", "unattributed", "redis", "postgres (other)"))
        ours = (cpu.get("server"), cpu.get("load generator"), cpu.get("postgres (bench db)"))
        usage = " / ".join(_v(v) for v in ours) + f" / {other:.0f}"
        v2v = lat.get("voice_to_voice_ms", {})
        rows.append(
            f"| {p['calls']} | {_v(v2v.get('p50'))}/{_v(v2v.get('p95'))} | {step} | {after} | "
            f"{_v(net.get('p50'))}/{_v(net.get('p95'))} | {usage} | {_v(p['client']['loop_lag_ms'].get('p99'))} |"
        )
    return "\n".join(rows)


def section(path: Path) -> str:
    result = json.loads(path.read_text())
    config, points = result["config"], result["points"]
    what_if = f", what-if: {config['what_if']}" if config.get("what_if") else ""
    title = f"{config['server']}, {config['providers']} providers, {config.get('database', '?')}{what_if}"
    commits = sorted({p.get("git", result["machine"]["git"]) for p in points})
    return "\n\n".join(
        [
            f"#### {title} ({path.name}; commit {', '.join(commits)})",
            table(points),
            targets_table(points),
            detail_table(points),
            f"Largest N meeting all targets: **{result.get('capacity_calls')}**",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", nargs="+", type=Path)
    args = parser.parse_args()
    print("\n\n".join(section(path) for path in args.results))


if __name__ == "__main__":
    main()
