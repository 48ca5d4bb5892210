"""A cluster's `max_connections` against the real binary and a backend that counts its open
connections: the gateway never holds more than the limit, requests over it wait for a connection
within the connect timeout and then get 503 upstream_connection_limit (Retry-After, nothing sent
upstream, not counted against the backend), and every way an exchange can end gives its room back.

Before the limit, 2,000 HTTP/2 streams from clients that never opened their flow-control window
held 1,250 connections to one backend, overflowed its accept queue and tripped its breaker."""
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import SLUICE, free_port, standard_policy, write_policy
from rawhttp import Conn


class CountingBackend:
    """HTTP/1.1 keep-alive backend on a thread per connection. `/echo/slow` answers after
    `hold` seconds, `/short/slow` too (past the `short` route's 300 ms per-try timeout),
    `/echo/reset` closes without an answer, anything else answers at once. Counts the
    connections open now and at most, and the requests in its hands now and at most."""

    def __init__(self, hold=0.6):
        self.hold = hold
        self.lock = threading.Lock()
        self.open = 0
        self.peak = 0
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(512)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.open += 1
                self.peak = max(self.peak, self.open)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            data = b""
            while True:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head, _, data = data.partition(b"\r\n\r\n")
                path = head.split(b" ")[1]
                with self.lock:
                    self.requests += 1
                    self.in_flight += 1
                    self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
                try:
                    if path.endswith(b"/reset"):
                        return
                    if path.endswith(b"/slow"):
                        time.sleep(self.hold)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                finally:
                    with self.lock:
                        self.in_flight -= 1
        except OSError:
            return
        finally:
            conn.close()
            with self.lock:
                self.open -= 1

    def close(self):
        self.listener.close()


def gateway(spawn, backend, *, max_connections, connect_timeout="300ms", workers=1):
    port, admin = free_port(), free_port()
    files = standard_policy(port, backend.port, free_port(), workers=workers)
    files["clusters.yaml"] = files["clusters.yaml"].replace(
        "connect_timeout: 1s, max_idle_per_endpoint: 64",
        f"connect_timeout: {connect_timeout}, max_connections: {max_connections}, max_idle_per_endpoint: 64", 1)
    assert f"max_connections: {max_connections}" in files["clusters.yaml"]
    files["admin.yaml"] = f"admin: {{address: 127.0.0.1:{admin}}}\n"
    s = spawn.sluice(files, port)
    s.admin = f"http://127.0.0.1:{admin}"
    return s


def metric(s, name, **labels):
    with urllib.request.urlopen(s.admin + "/metrics", timeout=5) as r:
        text = r.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


def concurrently(port, paths):
    results = [None] * len(paths)

    def one(index, path):
        with Conn(port, timeout=15) as c:
            results[index] = c.request("GET", path)

    threads = [threading.Thread(target=one, args=(i, p)) for i, p in enumerate(paths)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


def test_requests_over_the_limit_get_503_and_the_backend_never_sees_more(spawn):
    # (Held 2 s: every one of the 12 arrives while the first three are in, even on a busy machine.)
    backend = CountingBackend(hold=2.0)
    try:
        s = gateway(spawn, backend, max_connections=3)
        results = concurrently(s.port, ["/echo/slow"] * 12)
        statuses = sorted(r.status for r in results)
        assert statuses == [200] * 3 + [503] * 9, statuses
        for r in results:
            if r.status == 503:
                assert r.json()["error"] == "upstream_connection_limit", r
                assert r.header("retry-after") == "1", r
        assert backend.peak == 3 and backend.requests == 3, (backend.peak, backend.requests)
        assert metric(s, "sluice_upstream_connection_limit_total", cluster="demo") == 9
        # The gateway's own limit says nothing about the backend: it is not ejected, and the
        # next requests go through on the connections that are back.
        assert [r.status for r in concurrently(s.port, ["/echo/fast"] * 3)] == [200] * 3
        assert metric(s, "sluice_upstream_connections", cluster="demo") == 3
        refused = [r for r in s.access_log() if r.get("reason") == "upstream_connection_limit"]
        assert len(refused) == 9 and all(r["status"] == 503 and r["upstream"] is None for r in refused), refused
    finally:
        backend.close()


def test_requests_over_the_limit_wait_for_a_connection_within_the_connect_timeout(spawn):
    backend = CountingBackend(hold=0.3)
    try:
        s = gateway(spawn, backend, max_connections=3, connect_timeout="3s")
        started = time.monotonic()
        results = concurrently(s.port, ["/echo/slow"] * 9)
        elapsed = time.monotonic() - started
        assert [r.status for r in results] == [200] * 9, [(r.status, r.body[:80]) for r in results]
        assert backend.peak <= 3, backend.peak
        # Three at a time, each held 0.3 s: three rounds, on the same three connections.
        assert elapsed >= 0.85, elapsed
        assert metric(s, "sluice_upstream_connection_limit_total", cluster="demo") == 0
    finally:
        backend.close()


def test_every_way_an_exchange_ends_gives_its_connection_back(spawn):
    """With room for one connection, requests that time out (504), that the backend resets
    (502) and whose client leaves mid-wait each free it: the next request still gets through.
    A room kept by any of them would make every later request 503."""
    backend = CountingBackend(hold=0.6)
    try:
        s = gateway(spawn, backend, max_connections=1, connect_timeout="2s")
        for _ in range(3):
            with Conn(s.port, timeout=10) as c:
                assert c.request("GET", "/short/slow").status == 504
            with Conn(s.port, timeout=10) as c:
                assert c.request("GET", "/echo/reset").status == 502
            # A client that leaves while its request waits on the backend.
            raw = socket.create_connection(("127.0.0.1", s.port))
            raw.sendall(b"GET /echo/slow HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.1)
            raw.close()
            with Conn(s.port, timeout=10) as c:
                assert c.request("GET", "/echo/fast").status == 200
        # (The backend's own count lags: it sees a timed-out connection close only once its
        # sleep ends.)
        assert metric(s, "sluice_upstream_connections", cluster="demo") <= 1
        assert metric(s, "sluice_upstream_connection_limit_total", cluster="demo") == 0
    finally:
        backend.close()


def test_check_refuses_a_max_connections_below_one(binaries, tmp_path):
    files = standard_policy(free_port(), free_port(), free_port())
    files["clusters.yaml"] = files["clusters.yaml"].replace("connect_timeout: 1s, max_idle_per_endpoint: 64",
                                                            "connect_timeout: 1s, max_connections: 0, max_idle_per_endpoint: 64", 1)
    checked = subprocess.run([str(SLUICE), "check", str(write_policy(tmp_path / "p", files))], capture_output=True, text=True, timeout=20)
    assert checked.returncode != 0
    assert "clusters.yaml:2:" in checked.stderr + checked.stdout and "max_connections must be at least 1" in checked.stderr + checked.stdout, checked


def test_a_reload_applies_a_new_limit_to_waiting_requests_and_idle_connections(spawn):
    """Raised by a reload, the limit serves the requests already waiting at once (they were
    still served two at a time, one woken per reload, and the last got 503 while there was
    room); lowered, the idle connections over it close and busy ones close as they come back
    (16 stayed open and in use, idle until their idle timeout)."""
    backend = CountingBackend(hold=1.0)
    try:
        s = gateway(spawn, backend, max_connections=2, connect_timeout="3s")
        clusters = s.policy_dir / "clusters.yaml"
        started = time.monotonic()
        results = [None] * 6

        def one(i):
            with Conn(s.port, timeout=15) as c:
                results[i] = c.request("GET", "/echo/slow")

        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        clusters.write_text(clusters.read_text().replace("max_connections: 2,", "max_connections: 10,"))
        s.proc.signal(signal.SIGHUP)
        for t in threads:
            t.join(15)
        elapsed = time.monotonic() - started
        assert [r.status for r in results] == [200] * 6, [(r.status, r.body[:80]) for r in results]
        assert elapsed < 2.5, f"the waiters were served {elapsed:.1f} s after the first: not all at once after the reload"
        assert backend.peak >= 4, backend.peak
        assert metric(s, "sluice_upstream_connections", cluster="demo") >= 4
        # Lowered to 2: the idle excess closes at once, and no more than 2 are in use after.
        clusters.write_text(clusters.read_text().replace("max_connections: 10,", "max_connections: 2,"))
        s.proc.signal(signal.SIGHUP)
        s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5, count=2)
        time.sleep(0.3)
        assert metric(s, "sluice_upstream_connections", cluster="demo") <= 2
        backend.peak = backend.open
        assert [r.status for r in concurrently(s.port, ["/echo/fast"] * 4)] == [200] * 4
        assert metric(s, "sluice_upstream_connections", cluster="demo") <= 2
    finally:
        backend.close()


def test_a_request_whose_client_left_while_it_waited_is_never_sent(spawn):
    """With room for one connection, three POSTs wait behind a slow request and their clients
    leave: none of them reaches the backend once the connection is free (they all did, after
    the client had given up, and a live request waited behind them), and a live request that
    comes after them gets the connection at once."""
    backend = CountingBackend(hold=1.0)
    try:
        s = gateway(spawn, backend, max_connections=1, connect_timeout="4s")
        holder = threading.Thread(target=lambda: concurrently(s.port, ["/echo/slow"]))
        holder.start()
        time.sleep(0.2)
        leaving = []
        for i in range(3):
            raw = socket.create_connection(("127.0.0.1", s.port))
            raw.sendall(f"POST /echo/gone{i} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\npay".encode())
            leaving.append(raw)
        time.sleep(0.2)
        for raw in leaving:
            raw.close()
        time.sleep(0.2)
        live_started = time.monotonic()
        assert concurrently(s.port, ["/echo/live"])[0].status == 200
        assert time.monotonic() - live_started < 1.5, "the live request waited behind requests whose clients had left"
        holder.join(10)
        time.sleep(0.3)
        assert backend.requests == 2, f"the backend got {backend.requests} requests: abandoned POSTs were sent"
        gone = [r for r in s.access_log() if r["path"].startswith("/echo/gone")]
        assert len(gone) == 3 and all(r["status"] == 499 and r["reason"] == "client_gone" for r in gone), gone
    finally:
        backend.close()
