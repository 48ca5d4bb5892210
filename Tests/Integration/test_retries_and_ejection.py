"""Retries, outlier ejection and health checks against the real binary and mock backends: a
dead endpoint costs clients nothing (connect failures are tried again elsewhere, then it is
ejected); an endpoint answering 503 is ejected and receives nothing until its ejection ends;
one failing its health checks gets no traffic until it passes them again; with every endpoint
failing, retries stay within the budget; and no POST is ever sent twice."""
import json
import time
import urllib.request

from conftest import free_port, standard_policy
from rawhttp import Conn


def gateway(spawn, ports, *, outlier="{consecutive_failures: 2, ejection_time: 3s, max_ejected_share: 0.5}",
            retries="{attempts: 2, budget: 0.2, minimum_retries: 10}", workers=1, extra=""):
    port = free_port()
    files = standard_policy(port, ports[0], free_port(), workers=workers)
    endpoints = ", ".join(f"127.0.0.1:{p}" for p in ports)
    files["clusters.yaml"] = files["clusters.yaml"].replace(
        f"endpoints: [127.0.0.1:{ports[0]}], balance: round_robin, connect_timeout: 1s, max_idle_per_endpoint: 64, idle_timeout: 60s}}",
        f"endpoints: [{endpoints}], balance: round_robin, connect_timeout: 1s, max_idle_per_endpoint: 64, idle_timeout: 60s, "
        f"outlier_detection: {outlier}, retries: {retries}{extra}}}", 1)
    assert endpoints in files["clusters.yaml"]
    return spawn.sluice(files, port)


def control(backend, settings):
    request = urllib.request.Request(backend.url + "/__control", data=json.dumps(settings).encode(), method="POST")
    urllib.request.urlopen(request, timeout=5).read()
    backend.readings = getattr(backend, "readings", 0) + 1  # an admin request: not traffic


def requests_seen(backend):
    """Requests the backend has seen, not counting the /__stats requests this makes (each
    reading is itself one request, counted as it arrives)."""
    backend.readings = getattr(backend, "readings", 0) + 1
    return backend.stats()["requests"] - backend.readings


def get(port, path):
    with Conn(port, timeout=10) as c:
        return c.request("GET", path)


def pay(port, n):
    body = json.dumps({"mchid": "1900000001", "out_trade_no": f"T-RETRY-{n}", "amount": {"total": 1}}).encode()
    with Conn(port, timeout=10) as c:
        return c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json"}, body)


def test_a_dead_endpoint_costs_clients_nothing_and_is_ejected(spawn):
    a, b = spawn.backend(), spawn.backend()
    dead = free_port()  # nothing listens: connections are refused
    s = gateway(spawn, [a.port, dead, b.port])
    statuses = [get(s.port, f"/echo/{i}").status for i in range(12)] + [pay(s.port, i).status for i in range(12)]
    assert statuses == [200] * 24, statuses
    assert "ejects 127.0.0.1:%d" % dead in s.proc.stderr()
    # Every POST reached a backend exactly once (a connect failure sent nothing).
    paid = a.stats()["payments_executed"] + b.stats()["payments_executed"]
    assert paid == 12 and a.stats()["duplicate_payments"] + b.stats()["duplicate_payments"] == 0


def test_a_failing_endpoint_is_ejected_and_receives_nothing_until_its_ejection_ends(spawn):
    good, bad, other = spawn.backend(), spawn.backend(), spawn.backend()
    control(bad, {"mode": "fail", "fail_status": 503})
    s = gateway(spawn, [good.port, bad.port, other.port])
    # GETs are safe to repeat: a 503 from the failing endpoint is tried again elsewhere.
    assert [get(s.port, f"/echo/warm-{i}").status for i in range(6)] == [200] * 6
    assert "ejects 127.0.0.1:%d" % bad.port in s.proc.stderr()
    before = requests_seen(bad)
    assert [get(s.port, f"/echo/ejected-{i}").status for i in range(20)] == [200] * 20
    assert requests_seen(bad) - before == 0, "an ejected endpoint gets nothing"
    time.sleep(3.2)  # the ejection (3 s) ends: it is tried again
    control(bad, {"mode": "normal"})
    for i in range(6):
        assert get(s.port, f"/echo/back-{i}").status == 200
    assert requests_seen(bad) - before > 0


def test_with_every_endpoint_failing_retries_stay_within_the_budget_and_posts_go_once(spawn):
    backends = [spawn.backend(), spawn.backend()]
    for backend in backends:
        control(backend, {"mode": "fail", "fail_status": 503})
    s = gateway(spawn, [b.port for b in backends], outlier="{consecutive_failures: 1000}",
                retries="{attempts: 3, budget: 0.2, minimum_retries: 5}")
    before = sum(requests_seen(b) for b in backends)
    statuses = [get(s.port, f"/echo/fail-{i}").status for i in range(50)]
    assert statuses == [503] * 50, statuses
    tries = sum(requests_seen(b) for b in backends) - before
    # 50 requests earn 10 retries, plus the 5 to start with: at most 65 tries, never 150.
    assert 50 < tries <= 65, tries
    before = sum(requests_seen(b) for b in backends)
    assert [pay(s.port, i).status for i in range(10)] == [503] * 10
    assert sum(requests_seen(b) for b in backends) - before == 10, "a POST that reached a backend is never sent again"


def test_an_endpoint_failing_its_health_checks_gets_no_traffic_until_it_passes_again(spawn):
    good, sick = spawn.backend(), spawn.backend()
    control(sick, {"mode": "fail", "fail_status": 503})
    s = gateway(spawn, [good.port, sick.port], outlier="{consecutive_failures: 1000}", retries="{attempts: 1}",
                extra=", health_check: {path: /health, interval: 100ms, timeout: 100ms, healthy: 2, unhealthy: 2}")
    deadline = time.monotonic() + 5
    while "endpoint 127.0.0.1:%d is unhealthy" % sick.port not in s.proc.stderr():
        assert time.monotonic() < deadline, s.proc.stderr()
        time.sleep(0.05)
    # No retries here (attempts: 1): every 200 means the sick endpoint was never chosen.
    assert [pay(s.port, i).status for i in range(10)] == [200] * 10
    assert good.stats()["payments_executed"] == 10
    control(sick, {"mode": "normal"})
    while "endpoint 127.0.0.1:%d is healthy again" % sick.port not in s.proc.stderr():
        assert time.monotonic() < deadline + 5, s.proc.stderr()
        time.sleep(0.05)
    assert [pay(s.port, 100 + i).status for i in range(10)] == [200] * 10
    assert sick.stats()["payments_executed"] > 0, "back in balancing"


def test_an_endpoint_failing_more_often_than_its_peers_is_ejected_by_success_rate(spawn):
    backends = [spawn.backend() for _ in range(3)]
    flaky = backends[2]
    control(flaky, {"error_rate": 0.5, "error_status": 500})  # 500: not retried, and failures alternate with successes
    s = gateway(spawn, [b.port for b in backends], retries="{attempts: 1}",
                outlier="{consecutive_failures: 1000, ejection_time: 30s, max_ejected_share: 0.5, "
                        "success_rate: {interval: 1s, minimum_requests: 10, minimum_endpoints: 3, stdev_factor: 1.0}}")
    deadline = time.monotonic() + 10
    i = 0
    while "ejects 127.0.0.1:%d" % flaky.port not in s.proc.stderr():
        assert time.monotonic() < deadline, s.proc.stderr()
        get(s.port, f"/echo/rate-{i}")
        i += 1
    assert "success rate" in s.proc.stderr()
    before = requests_seen(flaky)
    assert [get(s.port, f"/echo/after-{n}").status for n in range(20)] == [200] * 20
    assert requests_seen(flaky) - before == 0



def test_a_reload_that_leaves_a_cluster_as_it_was_keeps_its_ejections(spawn):
    """A cluster whose endpoints and outlier settings a reload leaves as they were keeps what it
    learnt of them; one whose endpoints change starts afresh. (Before, each reload made every
    cluster afresh: routing kept the ejection only because the pools kept their first cluster,
    which also kept a reload's new settings from them, and /admin/state said nothing was out.)"""
    import signal
    good, bad, other = spawn.backend(), spawn.backend(), spawn.backend()
    control(bad, {"mode": "fail", "fail_status": 503})
    s = gateway(spawn, [good.port, bad.port, other.port], outlier="{consecutive_failures: 2, ejection_time: 30s, max_ejected_share: 0.5}")
    assert [get(s.port, f"/echo/warm-{i}").status for i in range(6)] == [200] * 6
    assert "ejects 127.0.0.1:%d" % bad.port in s.proc.stderr()
    routes = s.policy_dir / "routes.yaml"
    routes.write_text(routes.read_text().replace("max_body: 1KiB", "max_body: 2KiB"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5)
    before = requests_seen(bad)
    assert [get(s.port, f"/echo/after-reload-{i}").status for i in range(12)] == [200] * 12
    assert requests_seen(bad) - before == 0, "the reload put the ejected endpoint back"

    fourth = spawn.backend()
    clusters = s.policy_dir / "clusters.yaml"
    clusters.write_text(clusters.read_text().replace(f"127.0.0.1:{other.port}]", f"127.0.0.1:{other.port}, 127.0.0.1:{fourth.port}]"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5, count=2)
    control(bad, {"mode": "normal"})
    before = requests_seen(bad)
    assert [get(s.port, f"/echo/new-endpoints-{i}").status for i in range(8)] == [200] * 8
    assert requests_seen(bad) - before > 0, "a cluster with other endpoints starts afresh"


def test_health_checks_and_new_cluster_settings_apply_after_a_reload(spawn):
    """A reload kept each loop's pool of an unchanged cluster, and the pool kept the cluster it
    was made with: the reloaded health checker marked endpoints in a cluster no pool read (an
    endpoint failing its checks after any reload kept its traffic), and a reload's new
    `retries` never reached the pool. The pools take each reload's cluster now."""
    import signal
    good, sick = spawn.backend(), spawn.backend()
    s = gateway(spawn, [good.port, sick.port], outlier="{consecutive_failures: 1000}", retries="{attempts: 1}",
                extra=", health_check: {path: /health, interval: 100ms, timeout: 100ms, healthy: 2, unhealthy: 2}")
    assert [pay(s.port, i).status for i in range(4)] == [200] * 4  # both endpoints have pooled connections
    assert sick.stats()["payments_executed"] > 0
    clusters = s.policy_dir / "clusters.yaml"
    clusters.write_text(clusters.read_text().replace("retries: {attempts: 1}", "retries: {attempts: 2, budget: 1.0}"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5)

    control(sick, {"mode": "fail", "fail_status": 503})
    deadline = time.monotonic() + 5
    while "endpoint 127.0.0.1:%d is unhealthy" % sick.port not in s.proc.stderr():
        assert time.monotonic() < deadline, s.proc.stderr()
        time.sleep(0.05)
    before = sick.stats()["payments_executed"], requests_seen(sick)
    assert [pay(s.port, 10 + i).status for i in range(10)] == [200] * 10
    assert requests_seen(sick) - before[1] == 0, "an endpoint failing its checks after a reload still got traffic"
    # The reloaded retries: a GET the sick endpoint answers 503 goes again elsewhere. The sick
    # endpoint is only chosen while it is out if every endpoint is; bring it back first.
    control(sick, {"mode": "normal"})
    while "endpoint 127.0.0.1:%d is healthy again" % sick.port not in s.proc.stderr():
        assert time.monotonic() < deadline + 5, s.proc.stderr()
        time.sleep(0.05)
    control(sick, {"mode": "fail", "fail_status": 503})
    assert [get(s.port, f"/echo/retried-{i}").status for i in range(6)] == [200] * 6, "the reload's retries: {attempts: 2}"
