"""Concurrency bulkheads against the real binary and the mock backend: a flood of slow queries
fills only its own bulkhead (payments keep flowing at their usual pace); one hot merchant gets
no more than its share; and permits come back on every exit path (client gone, backend killed,
HTTP/2 stream reset, refused), so the bulkhead is whole again afterwards."""
import hashlib
import json
import re
import signal
import subprocess
import threading
import time
import urllib.request

from conftest import SLUICE, free_port, start_backend, standard_policy, write_policy
from h2wire import H2Wire
from rawhttp import Conn, abandon

HOT_KEY, CALM_KEY = "hot-merchant-key-0123456789", "calm-merchant-key-0123456789"


def gateway(spawn, backend, *, queries="{name: queries, max_concurrent: 2}", auth=False, admin=None):
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), protocol="auto")
    if admin:
        files["admin.yaml"] = f"admin: {{address: 127.0.0.1:{admin}}}\n"
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {prefix: /echo}\n    cluster: demo\n",
        "    match: {prefix: /echo}\n    cluster: demo\n    bulkhead: queries\n" + ("    auth: [api_key]\n" if auth else "")).replace(
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n",
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    bulkhead: payments\n")
    files["bulkheads.yaml"] = f"""\
bulkheads:
  - {queries}
  - {{name: payments, max_concurrent: 32, queue: 16, queue_timeout: 1s}}
"""
    if auth:
        hot, calm = (hashlib.sha256(k.encode()).hexdigest() for k in (HOT_KEY, CALM_KEY))
        files["auth.yaml"] = f"""\
merchants:
  - {{id: "1900000001", api_key_sha256: [{hot}]}}
  - {{id: "1900000002", api_key_sha256: [{calm}]}}
"""
    return spawn.sluice(files, port)


def get(port, path, headers=None, timeout=10):
    with Conn(port, timeout=timeout) as c:
        return c.request("GET", path, headers or {})


def slow(ms):
    return {"X-Demo-Delay-Ms": str(ms)}


def concurrently(calls):
    """Runs the callables at once; returns their results in order."""
    results = [None] * len(calls)

    def run(i):
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return results


def assert_whole_again(port, permits=2):
    """All permits free: that many slow requests at once all pass."""
    results = concurrently([lambda: get(port, "/echo/whole", slow(300))] * permits)
    assert [r.status for r in results] == [200] * permits, results


def test_a_query_flood_fills_only_its_own_bulkhead(spawn):
    backend = spawn.backend()
    s = gateway(spawn, backend)
    order = json.dumps({"mchid": "1900000001", "out_trade_no": "T-BULKHEAD", "amount": {"total": 1}}).encode()
    stop, statuses = threading.Event(), []

    def flood():
        while not stop.is_set():
            statuses.append(get(s.port, "/echo/q", slow(400)).status)

    flooders = [threading.Thread(target=flood) for _ in range(12)]
    for t in flooders:
        t.start()
    time.sleep(0.3)
    pay_times = []
    for _ in range(10):
        started = time.monotonic()
        with Conn(s.port) as c:
            r = c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json"}, order)
        pay_times.append(time.monotonic() - started)
        assert r.status == 200, r
    stop.set()
    for t in flooders:
        t.join(10)
    assert statuses.count(503) > 0 and statuses.count(200) > 0, statuses
    assert set(statuses) <= {200, 503}, statuses
    # Payments never waited behind the queries (each of which holds the backend 400 ms).
    assert max(pay_times) < 0.3, pay_times
    full = get(s.port, "/echo/q")  # the flood is over: the bulkhead is whole again
    assert full.status == 200


def test_one_hot_merchant_gets_no_more_than_its_share(spawn):
    backend = spawn.backend()
    s = gateway(spawn, backend, auth=True,
                queries="{name: queries, max_concurrent: 4, queue: 4, queue_timeout: 2s, merchant_share: 0.5}")
    hot = [lambda: get(s.port, "/echo/hot", {"X-Api-Key": HOT_KEY, **slow(500)})] * 8
    calm = [lambda: (time.sleep(0.1), get(s.port, "/echo/calm", {"X-Api-Key": CALM_KEY, **slow(100)}))[1]] * 2
    results = concurrently(hot + calm)
    hot_statuses = sorted(r.status for r in results[:8])
    assert hot_statuses == [200, 200, 429, 429, 429, 429, 429, 429], hot_statuses
    for r in results[:8]:
        if r.status == 429:
            assert r.json()["error"] == "bulkhead_merchant_share" and r.header("retry-after") == "1", r
    assert [r.status for r in results[8:]] == [200, 200], results[8:]


def test_permits_come_back_on_every_exit_path(spawn, tmp_path):
    backend = spawn.backend()
    s = gateway(spawn, backend)
    # 1. Clients that leave while their request waits for the backend.
    for _ in range(4):
        abandon(s.port, "/echo/gone", 300)
    time.sleep(0.6)
    assert_whole_again(s.port)
    # 2. HTTP/2 streams reset mid-request.
    wire = H2Wire(s.port)
    for _ in range(2):
        sid = wire.request("GET", "/echo/reset", [("x-demo-delay-ms", "300")])
        time.sleep(0.05)
        wire.send(wire.rst_frame(sid))
    time.sleep(0.6)
    wire.close()
    assert_whole_again(s.port)
    # 3. The backend killed mid-request: 502, and a new backend on the same port serves again.
    results = []
    threads = [threading.Thread(target=lambda: results.append(get(s.port, "/echo/killed", slow(1000)))) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    backend.proc.stop()
    for t in threads:
        t.join(10)
    # 502 (reset), or 504 when the GET's resend on a new connection (a reused connection that
    # closed before any answer goes once more) could not connect in time to the dying backend.
    assert len(results) == 2 and all(r.status in (502, 504) for r in results), results
    revived = start_backend(tmp_path / "logs", port=backend.port)
    try:
        assert_whole_again(s.port)
        # 4. Refused at once while full (queue 0): a refusal holds nothing.
        held = concurrently([lambda: get(s.port, "/echo/held", slow(400))] * 2 + [lambda: (time.sleep(0.1), get(s.port, "/echo/x"))[1]])
        assert [r.status for r in held] == [200, 200, 503], held
        assert held[2].json()["error"] == "bulkhead_full"
        assert_whole_again(s.port)
    finally:
        revived.proc.stop()


def test_an_adaptive_bulkhead_follows_its_backends_answer_times(spawn):
    """`adaptive:` moves the limit between min_concurrent and max_concurrent: down by a fifth
    each window whose answers' 90th percentile is over latency_target (the backend is queueing:
    fewer requests in flight let it catch up; the rest get 503 bulkhead_full at once), and up by
    a tenth (at least 1) each window where the limit was reached and answers were fast."""
    backend = spawn.backend()
    admin = free_port()
    s = gateway(spawn, backend, admin=admin,
                queries="{name: queries, max_concurrent: 16, adaptive: {latency_target: 100ms, min_concurrent: 2, window: 300ms}}")

    def limit():
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            return int(re.search(r'^sluice_bulkhead_limit\{bulkhead="queries"\} (\d+)', r.read().decode(), re.M).group(1))

    def load(delay_ms, until_limit):
        """8 clients in a loop until the limit satisfies `until_limit` (or 15 s)."""
        statuses, stop = [], threading.Event()

        def client():
            while not stop.is_set():
                statuses.append(get(s.port, "/echo/adaptive", slow(delay_ms) if delay_ms else {}).status)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 15
        while not until_limit(limit()) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        for t in threads:
            t.join(30)
        return statuses

    assert limit() == 16
    slow_statuses = load(250, lambda n: n == 2)
    assert limit() == 2, limit()
    assert 503 in slow_statuses and 200 in slow_statuses, sorted(set(slow_statuses))
    fast_statuses = load(0, lambda n: n > 5)
    assert limit() > 5, limit()
    assert fast_statuses.count(200) > fast_statuses.count(503), (fast_statuses.count(200), fast_statuses.count(503))


def test_check_names_a_bad_adaptive_setting(binaries, tmp_path):
    files = standard_policy(free_port(), free_port(), free_port())
    files["bulkheads.yaml"] = """\
bulkheads:
  - name: queries
    max_concurrent: 16
    adaptive: {latency_target: 0s, min_concurrent: 32, window: 10ms}
"""
    checked = subprocess.run([str(SLUICE), "check", str(write_policy(tmp_path / "p", files))], capture_output=True, text=True, timeout=20)
    assert checked.returncode != 0
    assert "bulkheads.yaml:4:32: duration must be greater than zero" in checked.stderr, checked.stderr
    assert "bulkheads.yaml:4:52: min_concurrent must be 1 to max_concurrent (16)" in checked.stderr, checked.stderr
    assert "bulkheads.yaml:4:64: window must be 100ms to 60s" in checked.stderr, checked.stderr


def test_a_reload_that_changes_a_bulkhead_keeps_counting_its_permits(spawn):
    """A reload that changes only queue_timeout, while the bulkhead is full: the new bulkhead
    counts the permits the old one's requests hold, so the backend never has more than
    max_concurrent in flight (it had twice as many: the changed bulkhead started empty)."""
    from test_upstream_connection_limit import CountingBackend
    backend = CountingBackend(hold=1.5)
    try:
        s = gateway(spawn, backend, queries="{name: queries, max_concurrent: 4, queue: 20, queue_timeout: 5s}")
        bulkheads = s.policy_dir / "bulkheads.yaml"
        results = []

        def one():
            results.append(get(s.port, "/echo/slow", timeout=15).status)

        first = [threading.Thread(target=one) for _ in range(4)]
        for t in first:
            t.start()
        time.sleep(0.4)
        bulkheads.write_text(bulkheads.read_text().replace("queue_timeout: 5s", "queue_timeout: 4s"))
        s.proc.signal(signal.SIGHUP)
        s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5)
        second = [threading.Thread(target=one) for _ in range(4)]
        for t in second:
            t.start()
        for t in first + second:
            t.join(20)
        assert results == [200] * 8, results
        assert backend.peak_in_flight == 4, f"the backend had {backend.peak_in_flight} requests in flight, over max_concurrent 4"
    finally:
        backend.close()
