"""Rate limits against a real redis-server (started here on a free port; missing = failure):
burst then rate, sliding window at the boundary, two gateways sharing one Redis, Redis killed /
frozen / restarted, shadow rules, leases (fewer Redis calls, admitted within the stated bound).
Each test is bounded to a few seconds."""
import json
import re
import subprocess
import threading
import time
import urllib.request

from conftest import free_port
from rawhttp import Conn


# Tests of what limits admit use a generous Redis deadline, so that a busy machine's hiccup is not
# read as a Redis failure (a 503 under `deny`); the deadline itself is tested with 20ms below.
def policy(listen_port: int, backend_port: int, redis_port: int, limits: str, routes: str, *,
           workers: int = 2, deadline: str = "200ms", breaker: str = "{failures: 5, open_for: 2s}") -> dict[str, str]:
    return {
        "gateway.yaml": f"""\
server: {{workers: {workers}, access_log: stdout}}
listeners:
  - {{name: public, address: 127.0.0.1:{listen_port}}}
clusters:
  - {{name: demo, endpoints: [127.0.0.1:{backend_port}]}}
""",
        "limits.yaml": f"""\
redis:
  address: 127.0.0.1:{redis_port}
  deadline: {deadline}
  breaker: {breaker}
limits:
{limits}""",
        "routes.yaml": "routes:\n" + routes,
    }


def route(name: str, prefix: str, limits: list[str]) -> str:
    return f"""\
  - name: {name}
    class: core
    match: {{prefix: {prefix}}}
    cluster: demo
    limits: [{", ".join(limits)}]
"""


def wait_for_log(s, predicate, timeout: float = 2.0) -> list[dict]:
    """The access log once `predicate(log)` holds (lines are flushed every 200 ms), bounded."""
    deadline = time.monotonic() + timeout
    while True:
        log = s.access_log()
        if predicate(log) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def statuses(port: int, path: str, count: int, headers=None) -> list[int]:
    with Conn(port) as c:
        return [c.request("GET", path, headers or {}).status for _ in range(count)]


def test_token_bucket_admits_burst_then_rate(spawn, backend, redis):
    port = free_port()
    s = spawn.sluice(policy(port, backend.port, redis.port, """\
  - name: tb
    algorithm: token_bucket
    rate: 10/s
    burst: 20
    key: [route]
    on_redis_failure: deny
    response_headers: true
""", route("tb", "/echo/tb", ["tb"])), port)
    with Conn(s.port) as c:
        first = [c.request("GET", "/echo/tb") for _ in range(30)]
    allowed = [r for r in first if r.status == 200]
    denied = [r for r in first if r.status == 429]
    assert 20 <= len(allowed) <= 21, [r.status for r in first]  # + at most one refilled on a slow run
    assert len(allowed) + len(denied) == 30
    ok = allowed[0]
    assert ok.header("ratelimit-policy") == '"tb";q=20;w=2'
    assert re.fullmatch(r'"tb";r=19;t=\d+', ok.header("ratelimit")), ok
    rejected = denied[0]
    assert rejected.header("ratelimit-policy") == '"tb";q=20;w=2'
    assert re.fullmatch(r'"tb";r=0;t=1', rejected.header("ratelimit")), rejected
    assert rejected.header("retry-after") == "1"
    body = rejected.json()
    assert body["rule"] == "tb" and body["violated-policies"] == ["tb"]
    assert body["error"] == "rate_limited" and body["status"] == 429 and body["detail"] and body["message"] == body["detail"], body
    # Then the rate: 10/s, so about 5 in half a second.
    time.sleep(0.5)
    later = statuses(s.port, "/echo/tb", 10)
    assert 4 <= later.count(200) <= 6, later
    limited = lambda log: any(r.get("reason") == "rate_limited:tb" and r["status"] == 429 for r in log)
    assert limited(wait_for_log(s, limited))


def test_sliding_window_never_exceeds_its_limit_in_any_window(spawn, backend, redis):
    port = free_port()
    s = spawn.sluice(policy(port, backend.port, redis.port, """\
  - name: sw
    algorithm: sliding_window
    limit: 5
    window: 1s
    key: [client_ip]
    on_redis_failure: deny
""", route("sw", "/echo/sw", ["sw"])), port)
    admitted: list[float] = []
    end = time.monotonic() + 2.6
    with Conn(s.port) as c:
        while time.monotonic() < end:
            sent = time.monotonic()
            r = c.request("GET", "/echo/sw")
            assert r.status in (200, 429), r
            if r.status == 200:
                admitted.append(sent)
            time.sleep(0.01)
    # Every window of 1 s (less 30 ms for the client/server clock offset) holds at most 5.
    for i, start in enumerate(admitted):
        inside = [t for t in admitted[i:] if t < start + 0.97]
        assert len(inside) <= 5, (start, inside)
    # And the limit is reached at each window position, not undershot: ~5 per second.
    assert len(admitted) >= 13, admitted


def test_two_gateways_share_one_limit(spawn, backend, redis):
    limit = """\
  - name: shared
    algorithm: token_bucket
    rate: 1/h
    burst: 500
    key: [route]
    on_redis_failure: deny
"""
    ports = [free_port(), free_port()]
    gateways = [spawn.sluice(policy(p, backend.port, redis.port, limit, route("shared", "/echo/shared", ["shared"]),
                                    deadline="200ms"), p) for p in ports]
    counts = {200: 0, 429: 0, "other": 0}
    lock = threading.Lock()

    def hammer(port: int):
        result = statuses(port, "/echo/shared", 200)
        with lock:
            for status in result:
                counts[status if status in (200, 429) else "other"] += 1

    threads = [threading.Thread(target=hammer, args=(g.port,)) for g in gateways for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert counts["other"] == 0, counts
    assert 490 <= counts[200] <= 510, counts  # within 2% of 500 (the atomic script makes it exact)
    assert counts[200] + counts[429] == 1600


def test_gateways_that_disagree_on_a_rules_algorithm_still_limit(spawn, backend, redis):
    """A rolling reload that changes a rule's algorithm leaves the fleet split for a while: one
    gateway with a token bucket, another with a sliding window, one rule name. Both kept one
    Redis key of two types and kept resetting it: every request went through, on both. Now each
    algorithm keeps its own counter: together they admit at most the two limits."""
    bucket = """\
  - name: shared
    algorithm: token_bucket
    rate: 1/h
    burst: 10
    key: [route]
    on_redis_failure: deny
"""
    window = """\
  - name: shared
    algorithm: sliding_window
    limit: 10
    window: 1h
    key: [route]
    on_redis_failure: deny
"""
    gateways = []
    for limit in (bucket, window):
        port = free_port()
        gateways.append(spawn.sluice(policy(port, backend.port, redis.port, limit, route("shared", "/echo/shared", ["shared"])), port))
    connections = [Conn(g.port) for g in gateways]
    try:
        results = [connections[i % 2].request("GET", "/echo/shared").status for i in range(60)]
    finally:
        for c in connections:
            c.close()
    assert set(results) <= {200, 429}, results
    assert results[0::2].count(200) == 10 and results[1::2].count(200) == 10, results


def test_redis_killed_each_failure_mode_and_no_long_waits(spawn, backend, redis):
    port = free_port()
    limits = ""
    for mode in ("allow", "deny", "local"):
        limits += f"""\
  - name: fail-{mode}
    algorithm: token_bucket
    rate: 1/h
    burst: 40
    key: [route]
    on_redis_failure: {mode}
    expected_instances: 4
"""
    routes = "".join(route(f"r-{m}", f"/echo/{m}", [f"fail-{m}"]) for m in ("allow", "deny", "local"))
    s = spawn.sluice(policy(port, backend.port, redis.port, limits, routes, deadline="20ms",
                            breaker="{failures: 3, open_for: 5s}"), port)
    assert statuses(s.port, "/echo/deny", 1) == [200]

    # Frozen Redis (SIGSTOP): calls time out at the deadline, then the breaker answers at once.
    redis.pause()
    try:
        slowest = 0.0
        with Conn(s.port) as c:
            for _ in range(10):
                started = time.monotonic()
                r = c.request("GET", "/echo/allow")
                slowest = max(slowest, time.monotonic() - started)
                assert r.status == 200, r
        assert slowest < 0.020 + 0.080, slowest  # deadline + slack for python and a busy machine
    finally:
        redis.resume()

    # Dead Redis (killed): each rule does what its failure mode says.
    redis.kill()
    time.sleep(0.05)
    with Conn(s.port) as c:
        started = time.monotonic()
        allow = [c.request("GET", "/echo/allow").status for _ in range(20)]
        deny = [c.request("GET", "/echo/deny") for _ in range(5)]
        local = [c.request("GET", "/echo/local").status for _ in range(20)]
        elapsed = time.monotonic() - started
    assert allow == [200] * 20
    assert [r.status for r in deny] == [503] * 5
    assert deny[0].json()["rule"] == "fail-deny"
    # local: burst 40 / 4 expected instances = 10 in this process.
    assert local.count(200) == 10 and local.count(429) == 10, local
    assert elapsed < 2.0, elapsed  # 45 requests: nothing waited on Redis
    # Every line: 1 + 10 while frozen + 20 + 5 + 20 (waiting for 46 could read the log before
    # the last ten, the local 429s, were written: seen in CI).
    reasons = {r.get("reason") for r in wait_for_log(s, lambda log: len(log) >= 56)}
    assert "rate_limit_unavailable:fail-deny" in reasons
    assert "rate_limited:fail-local" in reasons


def test_redis_restart_limits_again_within_a_second(spawn, backend, redis):
    port = free_port()
    s = spawn.sluice(policy(port, backend.port, redis.port, """\
  - name: rs
    algorithm: token_bucket
    rate: 1/h
    burst: 3
    key: [route]
    on_redis_failure: allow
""", route("rs", "/echo/rs", ["rs"]), breaker="{failures: 2, open_for: 2s}"), port)
    assert statuses(s.port, "/echo/rs", 5) == [200, 200, 200, 429, 429]
    redis.kill()
    assert statuses(s.port, "/echo/rs", 5) == [200] * 5  # fail open while it is down
    redis.start()  # empty: no keys, no scripts
    restarted = time.monotonic()
    # `allow` never answers 429 by itself: a 429 proves Redis decided again (EVALSHA -> NOSCRIPT -> EVAL).
    seen: list[int] = []
    while time.monotonic() - restarted < 1.0:
        seen.append(statuses(s.port, "/echo/rs", 1)[0])
        if seen[-1] == 429:
            break
        time.sleep(0.02)
    assert seen[-1] == 429, seen
    assert seen.count(200) <= 3 + 60, seen


def test_shadow_rules_never_reject(spawn, backend, redis):
    port = free_port()
    s = spawn.sluice(policy(port, backend.port, redis.port, """\
  - name: sh
    algorithm: sliding_window
    limit: 2
    window: 10s
    key: [client_ip]
    on_redis_failure: deny
    shadow: true
    response_headers: true
""", route("sh", "/echo/sh", ["sh"])), port)
    assert statuses(s.port, "/echo/sh", 10) == [200] * 10
    log = wait_for_log(s, lambda log: len([r for r in log if r.get("route") == "sh"]) >= 10)
    reasons = [r.get("reason") for r in log if r.get("route") == "sh"]
    assert reasons.count("shadow:ratelimit:rate_limited:sh") == 8, reasons


def script_calls(redis) -> int:
    """EVALSHA + EVAL calls Redis has run (INFO commandstats)."""
    stats = redis.command("INFO", "commandstats")
    return sum(int(n) for n in re.findall(r"cmdstat_eval(?:sha)?:calls=(\d+)", stats))


def test_leases_cut_redis_calls_and_stay_within_their_bound(spawn, backend, redis):
    # Two loops (holders), lease 20: the stated bound is holders x 1.5 x lease = 60 tokens
    # beyond (or short of) what the bucket alone admits over any interval.
    workers, lease = 2, 20
    bound = workers * 1.5 * lease
    port = free_port()
    s = spawn.sluice(policy(port, backend.port, redis.port, f"""\
  - {{name: plain, algorithm: token_bucket, rate: 1/h, burst: 1000000, key: [route], on_redis_failure: deny}}
  - {{name: leased, algorithm: token_bucket, rate: 1/h, burst: 1000000, key: [route], on_redis_failure: deny,
      lease: {{tokens: {lease}}}}}
  - {{name: tight, algorithm: token_bucket, rate: 100/s, burst: 100, key: [route], on_redis_failure: deny,
      lease: {{tokens: {lease}}}}}
""", route("plain", "/echo/plain", ["plain"]) + route("leased", "/echo/leased", ["leased"])
        + route("tight", "/echo/tight", ["tight"]), workers=workers, deadline="200ms"), port)

    # Redis calls per 1,000 requests, with and without a lease, while nothing is denied.
    calls = {}
    for name in ("plain", "leased"):
        before = script_calls(redis)
        assert statuses(s.port, f"/echo/{name}", 400) == [200] * 400
        calls[name] = 1000 * (script_calls(redis) - before) / 400
    assert calls["plain"] >= 990, calls
    assert calls["leased"] <= 200, calls  # ~1000 / lease, plus the top-ups

    # Accuracy against a rule that denies: admitted within the bound of the bucket.
    counts = {200: 0, 429: 0, "other": 0}
    lock = threading.Lock()
    stop = time.monotonic() + 2.0

    def hammer():
        with Conn(s.port) as c:
            while time.monotonic() < stop:
                status = c.request("GET", "/echo/tight").status
                with lock:
                    counts[status if status in (200, 429) else "other"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - started
    allowed = 100 + 100 * elapsed
    assert counts["other"] == 0, counts
    assert counts[429] > 0, counts  # the rule did deny
    assert counts[200] <= allowed + bound, (counts, allowed)
    assert counts[200] >= 0.85 * allowed - bound, (counts, allowed)


def test_a_burst_of_misses_on_a_leased_key_is_admitted_within_the_bound(spawn, backend, redis):
    """100 requests at once on one connection (one loop, one pass) against a bucket of 100 with
    leases of 5: each miss asked Redis for a whole lease, 20 leases drained the bucket, and 80 of
    the 100 were refused. Only the first miss fetches a lease now; the burst is admitted within
    the stated bound (holders x 1.5 x lease = 15 here)."""
    from h2wire import H2Wire
    port = free_port()
    files = policy(port, backend.port, redis.port, """  - {name: burst, algorithm: token_bucket, rate: 50/s, burst: 100, key: [route], on_redis_failure: deny, lease: {tokens: 5}}
""", route("burst", "/echo/burst", ["burst"]), workers=2)
    files["gateway.yaml"] = files["gateway.yaml"].replace(f"address: 127.0.0.1:{port}}}", f"address: 127.0.0.1:{port}, protocol: auto}}")
    s = spawn.sluice(files, port)
    wire = H2Wire(s.port, timeout=10)
    ids = [wire.request("GET", f"/echo/burst/{i}") for i in range(100)]
    assert wire.pump(lambda: all(wire.streams[i].ended or wire.streams[i].reset is not None for i in ids), 10)
    codes = [wire.streams[i].status for i in ids]
    wire.close()
    assert set(codes) <= {200, 429}, codes
    assert codes.count(200) >= 100 - 15, f"{codes.count(200)} of 100 admitted against a bucket of 100"


def test_reload_rejected_late_keeps_limits_enforced(spawn, backend, redis, tmp_path):
    """A reload that changes the Redis settings and is then rejected (TLS turned on for a
    running listener needs a restart) must leave the running generation's Redis connections
    alone: the bucket keeps limiting, it does not fall to its failure mode (`allow` here)."""
    import signal
    import subprocess
    from conftest import REPO
    port = free_port()
    files = policy(port, backend.port, redis.port, """\
  - name: strict
    algorithm: token_bucket
    rate: 1/s
    burst: 3
    key: [route]
    on_redis_failure: allow
""", route("strict", "/echo/strict", ["strict"]))
    s = spawn.sluice(files, port)
    started = time.monotonic()
    assert statuses(s.port, "/echo/strict", 4) == [200, 200, 200, 429]

    certs = s.policy_dir / "certs"
    subprocess.run(["/bin/sh", str(REPO / "Tests" / "Support" / "make-test-certs.sh"), str(certs)],
                   check=True, timeout=60, capture_output=True)
    (s.policy_dir / "gateway.yaml").write_text(files["gateway.yaml"].replace(
        f"address: 127.0.0.1:{port}}}",
        f"address: 127.0.0.1:{port}, tls: {{certificate: certs/gateway.pem, key: certs/gateway.key}}}}"))
    (s.policy_dir / "limits.yaml").write_text(files["limits.yaml"].replace("deadline: 200ms", "deadline: 150ms"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"reload \(SIGHUP\) rejected.*\n?.*needs a restart", stream="stderr", timeout=5)

    got = statuses(s.port, "/echo/strict", 6)
    refilled = int(time.monotonic() - started) + 1  # 1/s since the burst was spent
    assert got.count(200) <= refilled, f"{got}: the rule fell to its failure mode after the rejected reload"
    assert got.count(429) >= 6 - refilled, got
    assert s.proc.alive()


def order(mchid: str, trade_no: str) -> bytes:
    return json.dumps({"appid": "wxd678efh567hg6787", "mchid": mchid, "description": "tea",
                       "out_trade_no": trade_no, "notify_url": "https://merchant.example/notify",
                       "amount": {"total": 100, "currency": "CNY"},
                       "payer": {"openid": "o4GgauInH_RCEdvrrNGrntXDu6D4"}}).encode()


def test_limit_keyed_on_a_body_field_reads_the_body_first(spawn, backend, redis):
    """`key: [body:mchid]`: the body phase reads the order before rate limiting (answering
    100-continue on HTTP/1.1, consuming the window on HTTP/2), each merchant has its own bucket,
    the backend gets the same bytes, and a body that cannot be read strictly is refused."""
    import subprocess
    port = free_port()
    files = policy(port, backend.port, redis.port, """\
  - name: per-merchant
    algorithm: token_bucket
    rate: 1/min
    burst: 2
    key: [body:mchid]
    on_redis_failure: deny
""", """\
  - name: pay
    class: core
    match: {methods: [POST], path: /v3/pay/transactions/jsapi}
    cluster: demo
    limits: [per-merchant]
""")
    files["gateway.yaml"] = files["gateway.yaml"].replace("address: 127.0.0.1:", "protocol: auto, address: 127.0.0.1:")
    s = spawn.sluice(files, port)
    headers = {"Content-Type": "application/json"}
    with Conn(s.port) as c:
        got = [c.request("POST", "/v3/pay/transactions/jsapi", headers, order("1900000001", f"A{i:04d}")).status
               for i in range(3)]
        assert got == [200, 200, 429], got
        # Another merchant has its own bucket.
        assert c.request("POST", "/v3/pay/transactions/jsapi", headers, order("1900000002", "B0001")).status == 200
        # HTTP/1.1 with Expect: 100-continue: the body phase asks for the body.
        body = order("1900000003", "C0001")
        c.send(f"POST /v3/pay/transactions/jsapi HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode())
        interim = c.read_response(method="POST", allow_interim=True)
        assert interim.status == 100, interim
        c.send(body)
        assert c.read_response(method="POST").status == 200

    # HTTP/2 (h2c): the same bucket as HTTP/1.1 for merchant 1900000002 (one left).
    def h2(mchid, trade_no):
        r = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                            "-H", "Content-Type: application/json", "--data-binary", order(mchid, trade_no).decode(),
                            f"{s.url}/v3/pay/transactions/jsapi"], capture_output=True, text=True, timeout=10)
        return int(r.stdout)
    assert [h2("1900000002", "B0002"), h2("1900000002", "B0003")] == [200, 429]

    before = backend.stats()["requests"]
    with Conn(s.port) as c:
        r = c.request("POST", "/v3/pay/transactions/jsapi", headers,
                      b'{"mchid":"1900000004","mchid":"1900000005","out_trade_no":"D1"}')
        assert r.status == 400, r
        assert r.json()["error"] == "invalid_body"
        assert "duplicate_key" in r.json()["message"]
    assert backend.stats()["requests"] - before == 1  # the stats request only


def test_a_cost_above_what_a_rule_can_grant_gets_no_retry_after(spawn, backend, redis):
    """A request costing more than a rule can ever grant was refused with a Retry-After no retry
    could meet (Retry-After: 11 for a cost of 5000 against 2000 per 10 s). It is refused at once
    with `cost_exceeds_limit` and no Retry-After; a cost within the limit passes."""
    port = free_port()
    s = spawn.sluice(policy(port, backend.port, redis.port, """\
  - name: costly
    algorithm: sliding_window
    limit: 2000
    window: 10s
    key: [client_ip]
    cost_from: {header: x-cost}
    on_redis_failure: deny
""", route("costly", "/echo/costly", ["costly"])), port)
    with Conn(s.port) as c:
        never = c.request("GET", "/echo/costly", {"x-cost": "5000"})
        assert never.status == 429 and never.json()["error"] == "cost_exceeds_limit", never
        assert never.header("retry-after") is None and never.header("ratelimit") is None, never
        assert c.request("GET", "/echo/costly", {"x-cost": "1500"}).status == 200


def test_a_redis_that_refuses_the_password_is_said_on_stderr_once_per_connection(spawn, backend, redis):
    """A mistyped password (WRONGPASS) read only as `0 of 2 Redis connections answering` in an
    alert, the same as a network outage; nothing said why. Each connection now says its trouble
    once (not at every reconnect attempt), with Redis's own words."""
    subprocess.run(["redis-cli", "-p", str(redis.port), "CONFIG", "SET", "requirepass", "the-right-password-0123"],
                   check=True, capture_output=True, timeout=10)
    try:
        port = free_port()
        limits = "  - {name: per-client, algorithm: token_bucket, rate: 100/s, burst: 100, key: [client_ip], on_redis_failure: allow}\n"
        files = policy(port, backend.port, redis.port, limits, route("r", "/r", ["per-client"]))
        files["limits.yaml"] = files["limits.yaml"].replace("  deadline:", "  password_file: redis.password\n  deadline:")
        files["redis.password"] = "a-mistyped-password-0123\n"
        s = spawn.sluice(files, port)
        s.proc.wait_for_output(r"sluice: redis 127\.0\.0\.1:%d \(loop \d\): cannot connect: .*WRONGPASS" % redis.port,
                               stream="stderr", timeout=5, count=2)
        time.sleep(1.5)  # reconnect attempts go on meanwhile
        assert s.proc.stderr().count("cannot connect") == 2, s.proc.stderr()
        assert statuses(s.port, "/r/x", 3) == [200] * 3, "on_redis_failure: allow"
    finally:
        subprocess.run(["redis-cli", "-p", str(redis.port), "-a", "the-right-password-0123", "--no-auth-warning",
                        "CONFIG", "SET", "requirepass", ""], capture_output=True, timeout=10)


def test_a_redis_that_comes_back_empty_is_said_and_one_that_kept_its_data_is_not(spawn, backend, tmp_path):
    """A Redis restarted without persistence (or flushed) lost the idempotency records, nonces
    and counts, and nothing said so: an order completed before was executed again when retried.
    A key each gateway sets when it connects, found missing on a reconnect, says it (once)."""
    from conftest import Redis
    port = free_port()
    limits = "  - {name: per-client, algorithm: token_bucket, rate: 100/s, burst: 100, key: [client_ip], on_redis_failure: allow}\n"
    persistent = Redis(tmp_path / "redis-kept", persistent=True)
    try:
        s = spawn.sluice(policy(port, backend.port, persistent.port, limits, route("r", "/r", ["per-client"]), workers=1), port)
        assert statuses(s.port, "/r/x", 2) == [200] * 2
        persistent.shutdown()
        persistent.start()  # the same data, from its append-only file
        s.proc.wait_for_output(r"sluice: redis .*: connected again", stream="stderr", timeout=10)
        time.sleep(0.5)
        assert "its data is gone" not in s.proc.stderr(), s.proc.stderr()
    finally:
        persistent.stop()

    empty = Redis(tmp_path / "redis-empty")
    try:
        port = free_port()
        s = spawn.sluice(policy(port, backend.port, empty.port, limits, route("r", "/r", ["per-client"]), workers=1), port)
        assert statuses(s.port, "/r/x", 2) == [200] * 2
        # A second gateway on the same Redis: each says it, not only the first to reconnect
        # (which makes the key anew: the other finds another token than the one it saw).
        other_port, admin = free_port(), free_port()
        other_files = policy(other_port, backend.port, empty.port, limits, route("r", "/r", ["per-client"]), workers=2)
        other_files["admin.yaml"] = f"admin: {{address: 127.0.0.1:{admin}}}\n"
        other = spawn.sluice(other_files, other_port)
        assert statuses(other.port, "/r/x", 2) == [200] * 2
        empty.kill()
        empty.start()  # no persistence: every key gone
        gone = r"sluice: redis 127\.0\.0\.1:%d \(loop \d\): its data is gone" % empty.port
        s.proc.wait_for_output(gone, stream="stderr", timeout=10)
        other.proc.wait_for_output(gone, stream="stderr", timeout=10)
        time.sleep(0.5)
        assert other.proc.stderr().count("its data is gone") == 1, "once per process, not per loop"
        # Flushed while connected: noticed at the next check (every 5 s), by both.
        subprocess.run(["redis-cli", "-p", str(empty.port), "FLUSHALL"], check=True, capture_output=True, timeout=10)
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline and (s.proc.stderr().count("its data is gone") < 2 or other.proc.stderr().count("its data is gone") < 2):
            time.sleep(0.2)
        assert s.proc.stderr().count("its data is gone") == 2, s.proc.stderr()
        assert other.proc.stderr().count("its data is gone") == 2, other.proc.stderr()
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            assert re.search(r"^sluice_redis_data_lost_total 2$", r.read().decode(), re.M)
    finally:
        empty.stop()
