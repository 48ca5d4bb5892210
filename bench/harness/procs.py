"""Processes the runner starts (each in its own session, so its own process group, stopped as
a group), how to wait for them, stop them, and read their CPU time and peak memory from /proc.

A runner that dies without its `finally` (SIGKILL) cannot stop them itself. The direct child
gets SIGKILL from the kernel (PR_SET_PDEATHSIG), but its own children (nginx's workers, h2o's
and nghttpx's helpers) do not, so a guard process (`_Guard`) holds the process group of every
live child and kills those groups when the runner's end of a pipe closes, which the kernel
does however the runner dies."""
from __future__ import annotations

import ctypes
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

_libc = ctypes.CDLL(None)
_started: list["Proc"] = []
PR_SET_PDEATHSIG = 1
TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(SystemExit):
    pass


def log(msg: str) -> None:
    try:
        print(f"[bench] {msg}", file=sys.stderr, flush=True)
    except OSError:  # a hung-up terminal (EIO) must not cut a cleanup short
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, name: str, argv: list[str], workdir: Path, env: dict | None = None):
        self.name, self.argv, self.workdir = name, argv, workdir
        self.out = workdir / f"{name}.stdout"
        self.err = workdir / f"{name}.stderr"
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=open(self.out, "wb"), stderr=open(self.err, "wb"),
            start_new_session=True, env=env, preexec_fn=lambda: _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
        self.pid = self.popen.pid  # also its process group's id (its own session)
        _started.append(self)
        _guard.watch(self.pid)

    def tail(self) -> str:
        parts = []
        for path in (self.out, self.err):
            text = path.read_text(errors="replace")[-2000:] if path.exists() else ""
            parts.append(f"--- {path.name}:\n{text or '(empty)'}")
        return "\n".join(parts)

    def fail(self, msg: str) -> BenchError:
        return BenchError(f"bench: {self.name}: {msg}\n{self.tail()}")

    def wait_port(self, port: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise self.fail(f"exited with {self.popen.returncode} before listening on {port}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise self.fail(f"did not listen on {port} within {timeout:.0f} s")

    def wait_line(self, pattern: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Status lines: stderr for sluice (stdout is its access log), stdout for the others.
            if any(re.search(pattern, f.read_text(errors="replace"), re.M) for f in (self.out, self.err)):
                return
            if self.popen.poll() is not None:
                raise self.fail(f"exited with {self.popen.returncode}")
            time.sleep(0.05)
        raise self.fail(f"did not print /{pattern}/ within {timeout:.0f} s")

    # -- resources of the whole process group (nginx: master + workers) --------------------

    def group_pids(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if int(fields[2]) == self.pid:  # pgrp
                    pids.append(int(entry))
        return pids

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """CPU seconds in user space and in the kernel (utime, stime), summed over the group. The
        kernel part holds the system calls and, on loopback, much of the packet handling that
        softirqs do in the process's time."""
        user = system = 0
        for pid in self.group_pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            user += int(fields[11])
            system += int(fields[12])
        return user / TICKS, system / TICKS

    def peak_rss_kib(self) -> int:
        return self._status_kib("VmHWM")

    def rss_kib(self) -> int:
        """Resident memory now (VmRSS), summed over the group."""
        return self._status_kib("VmRSS")

    def _status_kib(self, field: str) -> int:
        total = 0
        for pid in self.group_pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith(f"{field}:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


# The guard: a small Python process in a session of its own (so a signal to the runner's
# process group, a terminal hang-up or `kill -- -PGID`, does not reach it). It reads "+PGID"
# and "-PGID" lines from the runner; at end of file (the runner exited, however) it SIGKILLs
# every group still listed.
_GUARD_CODE = """
import os, signal, sys
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class _Guard:
    def __init__(self) -> None:
        self._popen: subprocess.Popen | None = None

    def _send(self, line: str) -> None:
        try:
            self._popen.stdin.write(line + "\n")
            self._popen.stdin.flush()
        except (OSError, ValueError):  # the guard is gone: nothing more it can do
            pass

    def watch(self, pgid: int) -> None:
        if self._popen is None:  # started with the first child, so scripts that start none have none
            self._popen = subprocess.Popen([sys.executable, "-c", _GUARD_CODE], stdin=subprocess.PIPE,
                                           stdout=subprocess.DEVNULL, start_new_session=True, text=True)
        self._send(f"+{pgid}")

    def forget(self, pgid: int) -> None:
        """The group was stopped: the guard must not kill its id later (it may be reused)."""
        if self._popen is not None:
            self._send(f"-{pgid}")


_guard = _Guard()


def results_dir(here: Path, name: str) -> Path:
    """Where a bench script writes its results: BENCH_OUT when set (a read-only checkout, a CI
    artefact directory), else bench/results/<time>-<name> beside the script."""
    if os.environ.get("BENCH_OUT"):
        return Path(os.environ["BENCH_OUT"])
    return here / "results" / (time.strftime("%Y%m%d-%H%M%S") + "-" + name)


def finish(work: Path) -> None:
    """For a bench script's `finally`: stops every process it started, then removes its work dir,
    unless the run is failing (an exception is on its way out): then the dir, with every config
    and process output, is kept and named."""
    stop_all()
    if sys.exc_info()[0] is None:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"kept {work} (configs and process output)")


def stop_all() -> None:
    """SIGTERM to each started process group (newest first), SIGKILL to the group after 5 s;
    then SIGKILL to what is left of each group (children its leader did not stop, or of a
    leader that had already exited)."""
    for p in reversed(_started):
        if p.popen.poll() is None:
            _signal_group(p.pid, signal.SIGTERM)
            try:
                p.popen.wait(5)
            except subprocess.TimeoutExpired:
                _signal_group(p.pid, signal.SIGKILL)
                p.popen.wait(5)
        _signal_group(p.pid, signal.SIGKILL)
        _guard.forget(p.pid)
    _started.clear()


class LineFollower:
    """Follows a growing file (a process's stderr or error log; none of them prints times
    precise enough) from a thread, polled every 20 ms, and hands each complete line to
    `on_line(seen, text)` with the monotonic time it was read: times are good to ~20 ms."""

    every = 0.02

    def __init__(self, path: Path):
        self.path = path
        self._offset = 0
        self._partial = b""
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._thread = threading.Thread(target=self._run, name=f"follow-{Path(path).name}", daemon=True)
        self._thread.start()

    def on_line(self, seen: float, text: str) -> None:  # called under self._lock
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.every)

    def poll(self) -> None:
        with self._lock:
            try:
                with open(self.path, "rb") as f:
                    f.seek(self._offset)
                    data = f.read()
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            self._offset += len(data)
            lines = (self._partial + data).split(b"\n")
            self._partial = lines.pop()
            for raw in lines:
                self.on_line(now, raw.decode(errors="replace"))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.poll()


def machine_cpu_seconds() -> float:
    """CPU time the machine spent in processes since boot (user, nice, system from /proc/stat;
    not interrupts, so not loopback's packet handling): against the CPU of the processes a run
    knows, what others (a build, a test) took meanwhile."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    return sum(int(x) for x in fields[:3]) / TICKS


def known_cpu(processes: list[Proc]) -> float:
    """CPU seconds of these processes and of the children this script has waited for (wrk)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return sum(p.cpu_seconds() for p in processes) + children.ru_utime + children.ru_stime


def others_meter(processes: list[Proc]):
    """Starts measuring what other processes on the machine (not these, not the children this
    script waits for: the load tool) take; the function it returns gives that, in % of one core,
    since the start."""
    ours = list({id(p): p for p in processes}.values())
    machine0, known0, t0 = machine_cpu_seconds(), known_cpu(ours), time.monotonic()

    def pct() -> float:
        others = (machine_cpu_seconds() - machine0) - (known_cpu(ours) - known0)
        return max(0.0, 100 * others / max(1e-9, time.monotonic() - t0))
    return pct


def version_of(argv: list[str]) -> str:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (r.stdout + r.stderr).strip()
        return text.splitlines()[0] if text else ""
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
