"""Circuit breakers against the real binary and the mock backend: a dead backend opens the
breaker within its window and later requests fail fast without reaching it; once it is back,
half-open probes close the breaker; a slow backend trips the slow-call rule; clients that give
up never count against the backend. One log line per transition. A reload that changes a
breaker's settings keeps it open."""
import json
import signal
import time

from conftest import free_port, start_backend, standard_policy
from rawhttp import Conn, abandon

ORDER = json.dumps({"mchid": "1900000001", "out_trade_no": "T-BREAKER", "amount": {"total": 1}}).encode()


def gateway(spawn, backend, breaker):
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["breakers.yaml"] = f"breakers:\n  - {breaker}\n"
    return spawn.sluice(files, port)


def get(port, path, headers=None):
    started = time.monotonic()
    with Conn(port, timeout=10) as c:
        r = c.request("GET", path, headers or {})
    return r, time.monotonic() - started


def transitions(s):
    return [line.split("breaker demo ")[1].split(" (")[0] for line in s.proc.stderr().splitlines() if "breaker demo " in line]


def wait_for_transition(s, transition, timeout=2.0):
    deadline = time.monotonic() + timeout
    while transition not in transitions(s):
        assert time.monotonic() < deadline, transitions(s)
        time.sleep(0.01)


def test_a_dead_backend_opens_the_breaker_and_probes_close_it_when_it_is_back(spawn, tmp_path):
    backend = spawn.backend()
    s = gateway(spawn, backend, "{name: demo, cluster: demo, window: {calls: 10}, minimum_calls: 4, failure_rate: 0.5, "
                                "open_for: 700ms, half_open_calls: 2}")
    assert get(s.port, "/echo/ok")[0].status == 200
    backend.proc.stop()
    # With the one success before, 3 failures are 3 of 4 calls: 75% >= 50%, the breaker opens.
    failures = [get(s.port, "/echo/dead")[0].status for _ in range(3)]
    assert failures == [502] * 3, failures
    # Each result counts as its request ends, a moment after its answer went out.
    wait_for_transition(s, "closed -> open")
    # Open: answered at once, nothing tried upstream.
    r, took = get(s.port, "/echo/dead")
    assert r.status == 503 and r.json()["error"] == "circuit_open" and r.json()["breaker"] == "demo", r
    assert r.header("retry-after") == "1"
    assert took < 0.1, took
    revived = start_backend(tmp_path / "logs", port=backend.port)
    try:
        time.sleep(0.8)
        # Two probes pass (half_open_calls: 2); their successes close the breaker (each is
        # counted as its request ends, just after the answer went out).
        assert [get(s.port, "/echo/probe")[0].status for _ in range(2)] == [200, 200]
        deadline = time.monotonic() + 2
        while transitions(s)[-1:] != ["half_open -> closed"]:
            assert time.monotonic() < deadline, transitions(s)
            time.sleep(0.01)
        assert get(s.port, "/echo/closed")[0].status == 200
        assert transitions(s) == ["closed -> open", "open -> half_open", "half_open -> closed"], transitions(s)
    finally:
        revived.proc.stop()


def test_tuning_an_open_breaker_by_reload_keeps_it_open(spawn):
    """An operator who changes a threshold during an incident must not send the traffic back
    onto the failing backend: the reloaded breaker stays open for the time it had."""
    backend = spawn.backend()
    breaker = "{name: demo, cluster: demo, window: {calls: 10}, minimum_calls: 3, failure_rate: 0.5, open_for: 3s}"
    s = gateway(spawn, backend, breaker)
    backend.proc.stop()
    assert [get(s.port, "/echo/dead")[0].status for _ in range(3)] == [502] * 3
    wait_for_transition(s, "closed -> open")
    (s.policy_dir / "breakers.yaml").write_text(f"breakers:\n  - {breaker.replace('failure_rate: 0.5', 'failure_rate: 0.8')}\n")
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\): generation 2", stream="stderr", timeout=5)
    r, took = get(s.port, "/echo/dead")
    assert r.status == 503 and r.json()["error"] == "circuit_open", r
    assert took < 0.1, took
    assert transitions(s) == ["closed -> open"], transitions(s)


def test_a_slow_backend_trips_the_slow_call_rule(spawn):
    backend = spawn.backend()
    s = gateway(spawn, backend, "{name: demo, cluster: demo, window: {calls: 10}, minimum_calls: 3, "
                                "slow_call: {duration: 150ms, rate: 0.6}, open_for: 5s}")
    slow = {"X-Demo-Delay-Ms": "250"}
    assert [get(s.port, "/echo/slow", slow)[0].status for _ in range(3)] == [200, 200, 200]
    wait_for_transition(s, "closed -> open")
    r, took = get(s.port, "/echo/slow", slow)
    assert r.status == 503 and r.json()["error"] == "circuit_open", r
    assert took < 0.1
    assert transitions(s) == ["closed -> open"]
    assert "slow-call rate 100% of 3 calls" in s.proc.stderr()


def test_clients_that_give_up_never_count_against_the_backend(spawn):
    backend = spawn.backend()
    s = gateway(spawn, backend, "{name: demo, cluster: demo, window: {calls: 10}, minimum_calls: 2, failure_rate: 0.5, open_for: 5s}")
    for _ in range(6):
        abandon(s.port, "/echo/abandoned", 200, wait=0.02)
    time.sleep(0.4)
    assert get(s.port, "/echo/after")[0].status == 200
    assert transitions(s) == []
    # POSTs are never retried: each reached the backend exactly once.
    with Conn(s.port) as c:
        assert c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json"}, ORDER).status == 200
    assert backend.stats()["duplicate_payments"] == 0


def test_slow_uploads_and_slow_readers_are_not_slow_calls(spawn):
    """The slow-call rule judges the backend's answer time (request sent to response head),
    not the client's: uploads that trickle in over 0.4 s to a backend that answers at once
    opened the breaker (latency was measured from the request head), and with it every
    merchant's payments got 503 circuit_open, with no credentials needed."""
    backend = spawn.backend()
    s = gateway(spawn, backend, "{name: demo, cluster: demo, window: {calls: 10}, minimum_calls: 3, "
                                "slow_call: {duration: 150ms, rate: 0.6}, open_for: 5s}")
    for i in range(4):
        with Conn(s.port, timeout=10) as c:
            c.send(f"POST /echo/slow-upload/{i} HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n01234".encode())
            time.sleep(0.4)
            c.send(b"56789")
            assert c.read_response("POST").status == 200
    r, _ = get(s.port, "/echo/after")
    assert r.status == 200, r
    assert transitions(s) == [], transitions(s)
