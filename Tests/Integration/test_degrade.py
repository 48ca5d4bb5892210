"""Priority degradation against the real binary: a scripted load pushes the instance's
pressure (in-flight requests over the configured capacity) up and lets it fall; non-core routes
climb the ladder at once and come down one level per cooldown (shed → fallback → throttle →
normal, one log line each), while core routes are answered throughout."""
import json
import threading
import time

from conftest import free_port, standard_policy
from rawhttp import Conn

ORDER = json.dumps({"mchid": "1900000001", "out_trade_no": "T-DEGRADE", "amount": {"total": 1}}).encode()


def gateway(spawn, backend):
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {prefix: /echo}\n    cluster: demo\n",
        "    match: {prefix: /echo}\n    cluster: demo\n    degrade: {throttle_share: 0.5, fallback: cached, max_stale: 60s}\n")
    files["degrade.yaml"] = """\
degrade:
  signals: {in_flight: 6}
  levels: {throttle: 0.5, fallback: 0.8, shed: 1.0}
  cooldown: 1s
  sample_every: 20ms
"""
    return spawn.sluice(files, port)


def get(port, path):
    with Conn(port, timeout=10) as c:
        return c.request("GET", path)


def pay(port, delay_ms=0):
    with Conn(port, timeout=10) as c:
        return c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json", "X-Demo-Delay-Ms": str(delay_ms)}, ORDER)


def levels(s):
    return [line.split("degrade level ")[1].split(" ")[0] for line in s.proc.stderr().splitlines() if "degrade level " in line]


def wait_level(s, level, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not levels(s) or levels(s)[-1] != level:
        assert time.monotonic() < deadline, (level, levels(s))
        time.sleep(0.02)


def test_the_ladder_climbs_at_once_and_comes_down_level_by_level(spawn):
    backend = spawn.backend()
    s = gateway(spawn, backend)
    first = get(s.port, "/echo/cached?x=1")  # a normal answer, kept for the fallback
    assert first.status == 200 and first.header("x-sluice-degraded") is None

    # 8 slow payments in flight against a capacity of 6: pressure 1.33, straight to shed.
    slow = [threading.Thread(target=lambda: results.append(pay(s.port, 2000))) for _ in range(8)]
    results = []
    for t in slow:
        t.start()
    wait_level(s, "shed")
    shed = get(s.port, "/echo/cached?x=1")
    assert shed.status == 503 and shed.json()["error"] == "degraded" and shed.header("retry-after") == "2", shed
    assert shed.header("x-sluice-degraded") == "shed"
    assert pay(s.port).status == 200, "core routes are never shed"
    for t in slow:
        t.join(10)
    assert [r.status for r in results] == [200] * 8

    # Calm again: one level per second of cooldown.
    wait_level(s, "fallback")
    cached = get(s.port, "/echo/cached?x=1")
    assert cached.status == 200 and cached.header("x-sluice-degraded") == "fallback-cached", cached
    assert cached.body == first.body and cached.header("age") is not None
    uncached = get(s.port, "/echo/never-seen")
    assert uncached.status == 503 and uncached.json()["level"] == "fallback", uncached

    wait_level(s, "throttle")
    statuses = [get(s.port, f"/echo/throttled-{i}").status for i in range(10)]
    assert statuses.count(200) == 5 and statuses.count(503) == 5, statuses  # half forwarded, no fallback for new paths

    wait_level(s, "normal")
    assert get(s.port, "/echo/never-seen").status == 200
    assert levels(s) == ["shed", "fallback", "throttle", "normal"], levels(s)


def test_payments_waiting_on_a_hung_backend_raise_the_core_latency_signal_before_any_answer(spawn):
    """core_latency used to move only when core answers came back: while the backend hung, no
    answer came and the level stayed normal (or faded back to it) as every payment waited."""
    backend = spawn.backend()
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["degrade.yaml"] = """\
degrade:
  signals: {core_latency: 200ms}
  levels: {throttle: 0.5, fallback: 0.8, shed: 1.0}
  cooldown: 1s
  sample_every: 20ms
"""
    s = spawn.sluice(files, port)
    for _ in range(5):
        assert pay(s.port).status == 200
    assert get(s.port, "/echo/quick").status == 200
    assert levels(s) == [], "fast payments are no pressure"

    results = []
    hung = [threading.Thread(target=lambda: results.append(pay(s.port, 4000))) for _ in range(4)]
    started = time.monotonic()
    for t in hung:
        t.start()
    wait_level(s, "shed", timeout=3.0)
    assert results == [], "shed while the payments were still waiting, not after they answered"
    refused = get(s.port, "/echo/quick")
    assert refused.status == 503 and refused.json()["error"] == "degraded", refused
    # It climbed as the wait grew, and holds while they wait (the answers' mean alone faded
    # within seconds).
    climbed = levels(s)
    assert climbed in (["shed"], ["fallback", "shed"], ["throttle", "shed"], ["throttle", "fallback", "shed"]), climbed
    time.sleep(max(0.0, started + 3.5 - time.monotonic()))
    assert results == [] and levels(s) == climbed, (results, levels(s))
    for t in hung:
        t.join(10)
    assert [r.status for r in results] == [200] * 4, "core routes are never shed"
