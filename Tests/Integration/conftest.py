"""Fixtures for the loopback integration tests.

They run the release binaries (`swift build -c release`; SLUICE_BIN_DIR overrides the folder),
each on free 127.0.0.1 ports, with their stdout/stderr captured to files under pytest's tmp dir.
Every process started here is killed at teardown, even when a test fails, and dies with pytest
(PR_SET_PDEATHSIG) if pytest itself is killed.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("SLUICE_BIN_DIR", REPO / ".build" / "release"))
SLUICE = BIN_DIR / "sluice"
BACKEND = BIN_DIR / "sluice-demo-backend"
READY_TIMEOUT = 10.0

# --------------------------------------------------------------------------------------------
# Ports

_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on right now (and that we did not hand out before)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free port")


# --------------------------------------------------------------------------------------------
# Processes

_live: list["Proc"] = []
_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # A test run started in the background (`pytest &`) inherits SIGINT and SIGQUIT ignored,
    # and so would every process it starts: `stop()`'s SIGINT then left a demo backend running
    # (a "killed" backend went on answering 200). Each starts with the default dispositions.
    for sig in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)


class Proc:
    """A started binary whose stdout and stderr go to files (read them with .stdout()/.stderr())."""

    def __init__(self, name: str, argv: list[str], logdir: Path):
        self.name = name
        self.argv = argv
        logdir.mkdir(parents=True, exist_ok=True)
        self.out_path = logdir / f"{name}.stdout"
        self.err_path = logdir / f"{name}.stderr"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                      stderr=self._err, start_new_session=True,
                                      preexec_fn=_die_with_parent)
        self.pid = self.popen.pid
        _live.append(self)

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe(self, lines: int = 30) -> str:
        def tail(text: str) -> str:
            return "\n".join(text.splitlines()[-lines:]) or "(empty)"
        state = "running" if self.alive() else f"exited with {self.popen.returncode}"
        return (f"--- {self.name} ({' '.join(self.argv)}) {state}\n"
                f"--- stdout ({self.out_path}):\n{tail(self.stdout())}\n"
                f"--- stderr ({self.err_path}):\n{tail(self.stderr())}")

    def wait_for_output(self, pattern: str, timeout: float = READY_TIMEOUT, stream: str = "stdout",
                        count: int = 1) -> list[re.Match]:
        """Waits until `pattern` matches `count` times in stdout (or stderr); fails the test with
        the process's output if it exits first or the bounded wait runs out."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.stdout() if stream == "stdout" else self.stderr()
            found = list(rx.finditer(text))
            if len(found) >= count:
                return found
            if not self.alive():
                pytest.fail(f"{self.name} exited before printing /{pattern}/\n{self.describe()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not print /{pattern}/ (x{count}) on {stream} within "
                            f"{timeout:.0f} s (is the line flushed? stdout is a file, not a tty)\n"
                            f"{self.describe()}")
            time.sleep(0.02)

    def signal(self, sig: int) -> None:
        self.popen.send_signal(sig)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGINT (sluice: exit now), then SIGKILL to the whole process group after 3 s."""
        if self.alive():
            try:
                self.popen.send_signal(signal.SIGINT)
            except ProcessLookupError:
                pass
            if self.wait_exit(3.0) is None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait(5)
        else:
            try:  # children it may have left in its group
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for f in (self._out, self._err):
            f.close()
        if self in _live:
            _live.remove(self)


@atexit.register
def _kill_leftovers() -> None:
    for p in list(_live):
        p.stop()


def require_binaries() -> None:
    missing = [str(p) for p in (SLUICE, BACKEND) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail("release binaries not built: " + ", ".join(missing) +
                    "\nrun `swift build -c release` (or `make build`) first", pytrace=False)


# --------------------------------------------------------------------------------------------
# Policies


def standard_policy(listen_port: int, backend_port: int, dead_port: int, *,
                    workers: int = 2, header_timeout: str = "1s", protocol: str = "http1",
                    http2: str | None = None) -> dict[str, str]:
    """The policy most tests run against, split over three files (exercises merging).
    1 listener, 2 clusters, 7 routes; `sluice check` must say so.
    `protocol="auto"` makes the listener serve prior-knowledge h2c besides HTTP/1.1; `http2` is
    the listener's `http2:` limits as a YAML flow mapping (e.g. "{max_concurrent_streams: 8}")."""
    listener_http2 = f", http2: {http2}" if http2 else ""
    return {
        "gateway.yaml": f"""\
server: {{workers: {workers}, access_log: stdout, drain_timeout: 5s}}
listeners:
  - {{name: public, address: 127.0.0.1:{listen_port}, protocol: {protocol}, header_timeout: {header_timeout}, idle_timeout: 60s, max_header_bytes: 32KiB, max_uri_bytes: 8KiB{listener_http2}}}
""",
        "clusters.yaml": f"""\
clusters:
  - {{name: demo, endpoints: [127.0.0.1:{backend_port}], balance: round_robin, connect_timeout: 1s, max_idle_per_endpoint: 64, idle_timeout: 60s}}
  - {{name: dead, endpoints: [127.0.0.1:{dead_port}], balance: round_robin, connect_timeout: 1s, max_idle_per_endpoint: 4, idle_timeout: 60s}}
""",
        "routes.yaml": """\
routes:
  - name: pay
    class: core
    match: {methods: [POST], path: /v3/pay/transactions/jsapi}
    cluster: demo
    timeouts: {per_try: 5s, total: 10s}
    max_body: 1MiB
  - name: echo
    class: noncore
    match: {prefix: /echo}
    cluster: demo
    timeouts: {per_try: 5s, total: 10s}
    max_body: 1MiB
  - name: small
    class: noncore
    match: {prefix: /small/}
    cluster: demo
    timeouts: {per_try: 5s, total: 10s}
    max_body: 1KiB
  - name: short
    class: noncore
    match: {prefix: /short/}
    cluster: demo
    timeouts: {per_try: 300ms, total: 1s}
    max_body: 1MiB
  - name: dead
    class: noncore
    match: {prefix: /dead/}
    cluster: dead
    timeouts: {per_try: 2s, total: 3s}
    max_body: 1MiB
  - name: upload
    class: noncore
    match: {methods: [POST], path: /upload}
    cluster: demo
    timeouts: {per_try: 30s, total: 60s}
    max_body: 64MiB
    request_buffering: false
  - name: download
    class: noncore
    match: {methods: [GET], prefix: /download}
    cluster: demo
    timeouts: {per_try: 30s, total: 60s}
    max_body: 4KiB
""",
    }


STANDARD_COUNTS = "ok: 1 listeners, 2 clusters, 7 routes"


def bundled_policy(listen_port: int, backend_port: int, redis_port: int, admin_port: int) -> dict[str, str]:
    """The policy `make run` serves (policies/: its YAML files and keys), on the given ports."""
    source = REPO / "policies"
    files = {p.name: p.read_text() for p in sorted(source.glob("*.yaml"))}
    files.update({f"keys/{p.name}": p.read_text() for p in sorted((source / "keys").iterdir())})
    moves = {"127.0.0.1:8080": listen_port, "127.0.0.1:9001": backend_port, "127.0.0.1:6379": redis_port,
             "127.0.0.1:9901": admin_port}
    for name, text in files.items():
        for old, port in moves.items():
            text = text.replace(old, f"127.0.0.1:{port}")
        files[name] = text
    assert all(old not in "".join(files.values()) for old in moves), "a bundled address was not moved"
    return files


def write_policy(directory: Path, files: dict[str, str]) -> Path:
    """Writes the policy files; names may include a folder (`keys/m.hmac`)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


# --------------------------------------------------------------------------------------------
# Running services


class Backend:
    def __init__(self, proc: Proc, port: int):
        self.proc, self.port = proc, port
        self.url = f"http://127.0.0.1:{port}"

    def stats(self) -> dict:
        """GET /__stats directly (this opens one connection and sends one request itself)."""
        with urllib.request.urlopen(self.url + "/__stats", timeout=5) as r:
            return json.loads(r.read())


class Sluice:
    def __init__(self, proc: Proc, port: int, policy_dir: Path):
        self.proc, self.port, self.policy_dir = proc, port, policy_dir
        self.url = f"http://127.0.0.1:{port}"

    def access_log(self) -> list[dict]:
        """The JSON lines sluice wrote to stdout (other lines are skipped)."""
        out = []
        for line in self.proc.stdout().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def rss_kib(self, field: str = "VmRSS") -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"no {field} in /proc/{self.proc.pid}/status")


def start_backend(logdir: Path, port: int | None = None) -> Backend:
    require_binaries()
    port = port or free_port()
    proc = Proc(f"backend-{port}", [str(BACKEND), "--listen", f"127.0.0.1:{port}", "--workers", "1"],
                logdir)
    proc.wait_for_output(rf"^demo-backend: listening on 127\.0\.0\.1:{port}\b")
    return Backend(proc, port)


def start_sluice(policy_dir: Path, port: int, logdir: Path, listeners: tuple[str, ...] = ("public",),
                 extra_args: list[str] | None = None) -> Sluice:
    require_binaries()
    proc = Proc(f"sluice-{port}", [str(SLUICE), "run", "--policy", str(policy_dir), *(extra_args or [])],
                logdir)
    for name in listeners:
        proc.wait_for_output(rf"^sluice: listening on 127\.0\.0\.1:\d+ \({re.escape(name)}\)", stream="stderr")
    proc.wait_for_output(rf"^sluice: listening on 127\.0\.0\.1:{port} \(", stream="stderr")
    return Sluice(proc, port, policy_dir)


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def binaries():
    require_binaries()
    return BIN_DIR


@pytest.fixture(scope="session")
def backend(binaries, tmp_path_factory):
    b = start_backend(tmp_path_factory.mktemp("backend-logs"))
    yield b
    b.proc.stop()


@pytest.fixture(scope="module")
def sluice(backend, tmp_path_factory):
    """A sluice with the standard policy, fresh for each test module."""
    root = tmp_path_factory.mktemp("sluice")
    port = free_port()
    policy = write_policy(root / "policy", standard_policy(port, backend.port, free_port()))
    s = start_sluice(policy, port, root / "logs")
    yield s
    s.proc.stop()


@pytest.fixture
def spawn(tmp_path):
    """Starts extra processes for one test (own policies, own backends); stops them after it."""
    started: list[Proc] = []

    class Spawner:
        logdir = tmp_path / "logs"

        def backend(self) -> Backend:
            b = start_backend(self.logdir)
            started.append(b.proc)
            return b

        def sluice(self, files: dict[str, str], port: int, **kw) -> Sluice:
            policy = write_policy(tmp_path / f"policy-{port}", files)
            s = start_sluice(policy, port, self.logdir, **kw)
            started.append(s.proc)
            return s

    yield Spawner()
    for p in reversed(started):
        p.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of every live process's output to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and _live:
        rep.sections.append(("process output", "\n".join(p.describe() for p in _live)))


# --------------------------------------------------------------------------------------------
# Redis (rate limits)


REDIS_SERVER = "redis-server"


class Redis:
    """A redis-server of our own on a free loopback port (no persistence). kill() / start() /
    pause() / resume() simulate outages; a restart loses every key and every cached script."""

    def __init__(self, logdir: Path, port: int | None = None, persistent: bool = False):
        import shutil
        if shutil.which(REDIS_SERVER) is None:
            pytest.fail("redis-server not found: the rate-limit tests need it (`make deps` installs it)",
                        pytrace=False)
        self.port = port or free_port()
        self.logdir = logdir
        # Persistent: an append-only file fsynced on every write, as a Redis holding idempotency
        # records must run (README); a graceful restart() then keeps every key.
        self.persistent = persistent
        self.proc: Proc | None = None
        self.start()

    def start(self) -> None:
        persistence = ["--appendonly", "no"]
        if self.persistent:
            data = self.logdir / f"redis-data-{self.port}"
            data.mkdir(parents=True, exist_ok=True)
            persistence = ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(data)]
        self.proc = Proc(f"redis-{self.port}-{time.monotonic_ns()}",
                         [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""] + persistence,
                         self.logdir)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.command("PING") == "PONG":
                    return
            except OSError:
                pass
            time.sleep(0.01)
        pytest.fail(f"redis-server did not answer on port {self.port}\n{self.proc.describe()}")

    def kill(self) -> None:
        if self.proc:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.popen.wait(5)
            self.proc.stop()
            self.proc = None

    def shutdown(self) -> None:
        """A graceful stop (SIGTERM: a persistent server writes everything out first)."""
        if self.proc:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.popen.wait(10)
            self.proc.stop()
            self.proc = None

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def command(self, *args: str):
        """One command, RESP over a plain socket; returns the decoded simple reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(f"*{len(args)}\r\n".encode() + b"".join(
                f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args))
            data = s.recv(65536).decode()
        kind, rest = data[0], data[1:].split("\r\n")[0]
        if kind in "+-":
            return rest
        if kind == ":":
            return int(rest)
        return data

    def stop(self) -> None:
        if self.proc:
            try:
                self.resume()
            except ProcessLookupError:
                pass
            self.proc.stop()
            self.proc = None


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path / "redis-logs")
    yield r
    r.stop()
