"""The server under test: daphne or uvicorn in a subprocess (own process group), and /proc sampling of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.server_process import ASGI_APP, ROOT, free_port, server_command, server_env, wait_until_healthy

CLK_TCK = os.sysconf("SC_CLK_TCK")
_running: set[ServerProcess] = set()


SCRIPTED_PROVIDERS = "tests/fakes/scripted.py"  # the benchmark's workload (its STT's partials, LLM, TTS timing)


def snapshot(rev: str, into: Path, own_fakes: bool = False) -> tuple[str, str]:
    """Export git revision ``rev`` (committed files only) into ``into``, plus this bench/ package and (unless
    ``own_fakes``) this tree's scripted providers, so that every engine meets the same workload; returns the
    commit hash and whose scripted providers run ("this tree's" or "the snapshot's"). The server then runs code
    that cannot change under the benchmark (others edit the tree)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    (into / "bench").mkdir(exist_ok=True)
    for module in (ROOT / "bench").glob("*.py"):
        (into / "bench" / module.name).write_bytes(module.read_bytes())
    return commit, "the snapshot's" if own_fakes or not _tree_fakes_into(into) else "this tree's"


def _tree_fakes_into(into: Path) -> bool:
    """Put this tree's scripted providers into the snapshot if they import there (they may need a newer engine's
    interfaces; then the snapshot keeps its own, with a note)."""
    target = into / SCRIPTED_PROVIDERS
    own = target.read_bytes()
    target.write_bytes((ROOT / SCRIPTED_PROVIDERS).read_bytes())
    check = subprocess.run([sys.executable, "-c", "import tests.fakes.scripted"], cwd=into, capture_output=True)
    if check.returncode == 0:
        return True
    target.write_bytes(own)
    error = check.stderr.decode(errors="replace").strip().splitlines()[-1:]
    print(
        f"note: this tree's {SCRIPTED_PROVIDERS} does not import in the snapshot ({''.join(error)}): its own runs",
        file=sys.stderr,
    )
    return False


def base_env(database_url: str, media: Path, **extra: str) -> dict[str, str]:
    """The environment of manage.py and the server: production settings (DEBUG off), no real credentials."""
    return server_env(database_url, media, debug=False, **extra)


@dataclass(eq=False)
class ServerProcess:
    kind: str
    env: dict[str, str]
    log_path: Path
    app: str = ASGI_APP
    root: Path = ROOT  # the source tree the server runs from (a snapshot with --source)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    nice: int = 0  # added to the server's niceness before it starts (negative: needs CAP_SYS_NICE, e.g. root)
    cpus: set[int] | None = None  # the CPUs it may run on (default: those of the bench)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                server_command(self.kind, self.port, self.app),
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._placed if self.nice or self.cpus else None,
            )
        _running.add(self)
        if problem := wait_until_healthy(self.url, self.process, timeout):
            self.stop()
            raise RuntimeError(f"{self.kind} {problem}:\n{self.log_tail()}")
        return self

    def _placed(self) -> None:
        """In the child, before exec: its niceness and CPUs (inherited by all of its threads)."""
        if self.nice:
            os.nice(self.nice)
        if self.cpus:
            os.sched_setaffinity(0, self.cpus)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM to the server's process group, SIGKILL after 10 s. Idempotent."""
        _running.discard(self)
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        except ProcessLookupError:
            pass


def stop_all_servers() -> None:
    for server in list(_running):
        server.stop()


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK


@dataclass
class Sample:
    at: float
    cpu_s: float
    rss_mb: float
    machine_busy_s: float = 0.0
    machine_total_s: float = 0.0


class ProcMonitor(threading.Thread):
    """Samples a process's CPU time and RSS every ``interval`` seconds until ``stop()``."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(name=f"monitor-{pid}", daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[Sample] = []
        self._stop_event = threading.Event()

    def sample(self) -> Sample | None:
        try:
            sample = Sample(time.monotonic(), cpu_seconds(self.pid), rss_mb(self.pid), *machine_busy_s())
        except (FileNotFoundError, ProcessLookupError):
            return None
        self.samples.append(sample)
        return sample

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.sample()

    def stop(self) -> list[Sample]:
        self._stop_event.set()
        self.join(5)
        self.sample()
        return self.samples

    def summary(self) -> dict[str, float | None]:
        """Average CPU % of one core over the samples, the busiest 1 s window, and peak RSS."""
        samples = self.samples
        if len(samples) < 2:
            return {"cpu_pct": None, "cpu_peak_1s_pct": None, "rss_peak_mb": None}
        first, last = samples[0], samples[-1]
        peak, j = 0.0, 0
        for sample in samples:
            while samples[j].at < sample.at - 1.0:
                j += 1
            if j > 0 and sample.at - samples[j - 1].at > 0:
                peak = max(peak, (sample.cpu_s - samples[j - 1].cpu_s) / (sample.at - samples[j - 1].at))
        return {
            "cpu_pct": round(100 * (last.cpu_s - first.cpu_s) / max(1e-9, last.at - first.at), 1),
            "cpu_peak_1s_pct": round(100 * peak, 1),
            "rss_peak_mb": round(max(s.rss_mb for s in samples), 1),
        }


def _process_table() -> dict[int, tuple[str, float, int]]:
    """Every process's (command line, CPU seconds, parent pid) right now."""
    table: dict[int, tuple[str, float, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            fields = _stat_fields(int(entry.name))
            table[int(entry.name)] = (cmdline, (int(fields[11]) + int(fields[12])) / CLK_TCK, int(fields[1]))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return table


class CpuCensus:
    """Who used the machine's CPU between ``start()`` and ``stop()``: the server, the load generator, this
    benchmark's PostgreSQL backends, Redis, and everything else (other users of a shared machine)."""

    def __init__(self, server_pid: int, database: str, web_pid: int | None = None) -> None:
        self.server_pid, self.database, self.web_pid = server_pid, database, web_pid
        self.before: dict[int, tuple[str, float, int]] = {}
        self.began = 0.0
        self.machine_before = (0.0, 0.0)

    def group(self, pid: int, cmdline: str, parent: int) -> str:
        if pid == self.server_pid:
            return "server"
        if pid == self.web_pid:
            return "web server (--split)"
        if "py-spy" in cmdline:
            return "py-spy"
        if os.getpid() in (pid, parent):
            return "load generator"
        if cmdline.startswith("postgres:"):
            return "postgres (bench db)" if self.database and f" {self.database} " in cmdline else "postgres (other)"
        if "redis-server" in cmdline:
            return "redis"
        return "other processes"

    def start(self) -> None:
        self.before, self.began, self.machine_before = _process_table(), time.monotonic(), machine_busy_s()

    def stop(self) -> dict[str, float]:
        """CPU % of one core per group over the window; "unattributed" is what short-lived processes used."""
        after, wall = _process_table(), max(1e-9, time.monotonic() - self.began)
        busy_after, total_after = machine_busy_s()
        groups: dict[str, float] = {}
        for pid, (cmdline, cpu, parent) in after.items():
            earlier = self.before.get(pid)
            used = cpu - earlier[1] if earlier and earlier[0] == cmdline else cpu if pid not in self.before else 0.0
            name = self.group(pid, cmdline, parent)
            groups[name] = groups.get(name, 0.0) + max(0.0, used)
        machine = busy_after - self.machine_before[0]
        groups["unattributed"] = max(0.0, machine - sum(groups.values()))
        cores = (total_after - self.machine_before[1]) / wall
        shares = {name: round(100 * used / wall, 1) for name, used in sorted(groups.items(), key=lambda g: -g[1])}
        return shares | {"machine_busy_pct_of_all_cores": round(100 * machine / max(1e-9, cores * wall), 1)}


def wait_until_quiet(threshold_pct: float = 25.0, max_wait_s: float = 120.0) -> float:
    """Wait (bounded) until the machine is mostly idle before a load point; returns the last busy % measured."""
    deadline = time.monotonic() + max_wait_s
    while True:
        busy0, total0 = machine_busy_s()
        time.sleep(2.0)
        busy1, total1 = machine_busy_s()
        busy = 100 * (busy1 - busy0) / max(1e-9, total1 - total0)
        if busy <= threshold_pct or time.monotonic() > deadline:
            return round(busy, 1)
