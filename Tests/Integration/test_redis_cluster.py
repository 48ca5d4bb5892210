"""Shared guard state on a real Redis Cluster (3 primaries + 3 replicas on loopback), with three
Sluice instances sharing it, as a scaled-out fleet would:

- a rate limit stays within 2% of its configured rate across the 3 instances, with its
  counters spread over the 3 primaries;
- auth nonces and idempotency records are seen by every instance;
- a primary killed under load: no crash, `deny` never over-admits, `local` admits at most what
  its local limiters allow during the outage on top, limits come back after the replica is
  promoted;
- a resharding (`redis-cli --cluster reshard`) under load: no crash, no over-admission, and the
  calls keep being answered (MOVED / ASK followed).
Each test is bounded to about 15 s."""
import threading
import time
import urllib.request

import pytest

from conftest import free_port
from rawhttp import Conn
from rediscluster import RedisCluster, make_test_certificates
from test_auth import MERCHANT, SECRET, sign
from test_idempotency import order


@pytest.fixture
def cluster(tmp_path):
    c = RedisCluster(tmp_path / "redis-cluster")
    yield c
    c.stop()


def gateway_files(port: int, backend_port: int, cluster: RedisCluster, routes: str, sections: str, *,
                  deadline: str = "200ms", breaker: str = "{failures: 5, open_for: 1s}", tls: str = "") -> dict[str, str]:
    """One instance's policy: its listener, the demo backend, `routes`, and the shared cluster
    Redis with the guard `sections` that use it."""
    return {
        "gateway.yaml": f"""\
server: {{workers: 1, access_log: off}}
listeners:
  - {{name: public, address: 127.0.0.1:{port}}}
clusters:
  - {{name: demo, endpoints: [127.0.0.1:{backend_port}]}}
routes:
{routes}""",
        "shared.yaml": f"""\
redis:
  cluster: {cluster.seeds_yaml()}
  deadline: {deadline}
  breaker: {breaker}
{tls}{sections}""",
    }


def limited_routes(rules: list[str]) -> str:
    """One route per rule: GET /echo/<rule> is limited by that rule alone."""
    return "".join(f"""\
  - name: {rule}
    class: core
    match: {{prefix: /echo/{rule}}}
    cluster: demo
    limits: [{rule}]
""" for rule in rules)


def limited_gateways(spawn, backend, cluster, limits: str, rules: list[str], count: int = 3, **kw):
    """`count` gateways; the first also has an admin listener (`.admin`: its metrics URL)."""
    gateways = []
    for index in range(count):
        port, admin = free_port(), free_port()
        files = gateway_files(port, backend.port, cluster, limited_routes(rules), "limits:\n" + limits, **kw)
        if index == 0:
            files["admin.yaml"] = f"admin: {{address: 127.0.0.1:{admin}}}\n"
        gateways.append(spawn.sluice(files, port))
        gateways[-1].admin = f"http://127.0.0.1:{admin}/metrics" if index == 0 else None
    for gateway in gateways:
        wait_until_redis_answers(gateway, f"/echo/{rules[0]}")
    return gateways


def metric(gateway, name: str) -> float:
    """One sample of the gateway's /metrics (`name` with its labels, as printed)."""
    with urllib.request.urlopen(gateway.admin, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    raise AssertionError(f"no {name} in /metrics")


def wait_until_redis_answers(gateway, path: str, timeout: float = 5.0) -> None:
    """A gateway listens before its Redis client has learnt the cluster's slot map (a `deny`
    rule answers 503 meanwhile): waits, with a tenant of its own, until the rule is decided in
    Redis."""
    deadline = time.monotonic() + timeout
    with Conn(gateway.port) as c:
        while c.request("GET", path, {"x-tenant": "warm-up"}).status == 503:
            assert time.monotonic() < deadline, "the gateway's Redis client never learnt the cluster"
            time.sleep(0.05)


def tenant_limit(name: str, rate: int, burst: int, failure: str) -> str:
    return f"""\
  - name: {name}
    algorithm: token_bucket
    rate: {rate}/s
    burst: {burst}
    key: [header:x-tenant]
    on_redis_failure: {failure}
    expected_instances: 3
"""


def tenants_on_each_primary(cluster: RedisCluster, rule: str) -> list[str]:
    """One tenant name per primary: the rule's counter key `rl:tb:{<rule>|<tenant>}` lands there."""
    chosen: dict[int, str] = {}
    for i in range(200):
        tenant = f"t{i}"
        chosen.setdefault(cluster.primary_of(cluster.keyslot(f"{rule}|{tenant}"))["port"], tenant)
        if len(chosen) == 3:
            return list(chosen.values())
    raise AssertionError("no tenant names for every primary")


class Hammer:
    """Threads sending GET /echo/<rule> with an x-tenant header to every gateway as fast as they
    can (keep-alive), counting statuses per (rule, tenant), until stopped."""

    def __init__(self, gateways, targets: list[tuple[str, str]]):
        self.counts = {target: {200: 0, 429: 0, "other": 0} for target in targets}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.odd: dict = {target: [] for target in targets}  # the first unexpected answers, for assertion messages
        self.first_sent: list[float] = []
        self.last_answered: list[float] = []
        self.threads = [threading.Thread(target=self._run, args=(g.port, target), daemon=True)
                        for g in gateways for target in targets]

    def _run(self, port: int, target: tuple[str, str]) -> None:
        rule, tenant = target
        local = {200: 0, 429: 0, "other": 0}
        self.first_sent.append(time.monotonic())
        while not self.stopping.is_set():
            try:
                with Conn(port, timeout=5) as c:
                    while not self.stopping.is_set():
                        r = c.request("GET", f"/echo/{rule}", {"x-tenant": tenant})
                        local[r.status if r.status in (200, 429) else "other"] += 1
                        if r.status not in (200, 429) and len(self.odd[target]) < 3:
                            self.odd[target].append((r.status, r.body[:200]))
            except OSError as error:
                local["other"] += 1
                self.odd[target].append(repr(error))
                time.sleep(0.01)
        self.last_answered.append(time.monotonic())
        with self.lock:
            for k, v in local.items():
                self.counts[target][k] += v

    def run_for(self, seconds: float, during=None) -> float:
        """Runs the load for `seconds` (calling `during()` from this thread meanwhile); the
        seconds from the first request to the last answer."""
        started = time.monotonic()
        for t in self.threads:
            t.start()
        if during:
            during()
        remaining = seconds - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        self.stopping.set()
        for t in self.threads:
            t.join(10)
        # From the first request sent to the last answer: the span the buckets refilled over.
        return max(self.last_answered) - min(self.first_sent)


def crc16_slot(tag: str) -> int:
    """Redis Cluster's slot of a hash tag's content (CRC16/XMODEM mod 16384), to search tenant
    names without asking the cluster for each."""
    crc = 0
    for byte in tag.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc % 16384


def test_three_gateways_keep_a_limit_within_2_percent(spawn, backend, cluster):
    rate, burst, seconds = 100, 50, 3.0
    gateways = limited_gateways(spawn, backend, cluster, tenant_limit("tenant", rate, burst, "deny"), ["tenant"])
    tenants = tenants_on_each_primary(cluster, "tenant")
    hammer = Hammer(gateways, [("tenant", t) for t in tenants])
    elapsed = hammer.run_for(seconds)
    for tenant in tenants:
        counts = hammer.counts[("tenant", tenant)]
        expected = burst + rate * elapsed
        assert counts["other"] == 0, (tenant, counts, hammer.odd[("tenant", tenant)])
        assert counts[429] > counts[200], f"the load exceeded the limit ({counts})"
        assert abs(counts[200] - expected) <= 0.02 * expected, (tenant, counts, expected)
        print(f"3 gateways, tenant {tenant}: admitted {counts[200]} of {counts[200] + counts[429]}, "
              f"bucket allows {expected:.1f} over {elapsed:.2f} s")
    # The counters really are spread over the primaries.
    holders = {n["port"] for n in cluster.primaries() if int(cluster.cli(n["port"], "DBSIZE")) > 0}
    assert len(holders) == 3, holders


def test_nonces_and_idempotency_records_are_shared_across_gateways(spawn, backend, cluster):
    pay_route = """\
  - name: pay
    class: core
    match: {methods: [POST], path: /v3/pay/transactions/jsapi}
    cluster: demo
    auth: [merchant_hmac]
    idempotency: orders
"""
    sections = f"""\
auth: {{on_redis_failure: deny}}
merchants:
  - {{id: "{MERCHANT}", hmac_secrets: [keys/m.hmac]}}
idempotency:
  - name: orders
    key: [{{header: idempotency-key}}, {{body: [mchid, out_trade_no]}}]
    on_redis_failure: deny
"""
    gateways = []
    for _ in range(3):
        port = free_port()
        files = gateway_files(port, backend.port, cluster, pay_route, sections)
        files["keys/m.hmac"] = SECRET.decode() + "\n"
        gateways.append(spawn.sluice(files, port))
    a, b, c = gateways

    def pay(gw, body, key, authorization=None):
        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   "Authorization": authorization or sign("POST", "/v3/pay/transactions/jsapi", body)}
        with Conn(gw.port, timeout=10) as conn:
            return conn.request("POST", "/v3/pay/transactions/jsapi", headers, body)

    # A nonce used on one gateway is refused by the others.
    body = order("T-CLUSTER-NONCE")
    authorization = sign("POST", "/v3/pay/transactions/jsapi", body)
    got = [pay(a, body, '"k-nonce"', authorization), pay(b, body, '"k-nonce"', authorization),
           pay(c, body, '"k-nonce"', authorization)]
    assert [r.status for r in got] == [200, 401, 401], got
    assert [r.json().get("error") for r in got[1:]] == ["replayed_nonce", "replayed_nonce"]

    # An order done through one gateway is replayed by the others (freshly signed each time),
    # and reusing its key for another body is refused everywhere.
    before = backend.stats()["payments_executed"]
    body = order("T-CLUSTER-IDEM")
    first = pay(a, body, '"k-idem"')
    assert first.status == 200, first
    replays = [pay(gw, body, '"k-idem"') for gw in (b, c)]
    assert [r.status for r in replays] == [200, 200], replays
    assert all(r.header("idempotent-replayed") == "true" for r in replays), replays
    assert all(r.body == first.body for r in replays)
    reused = pay(c, order("T-CLUSTER-IDEM", total=999), '"k-idem"')
    assert reused.status == 422, reused
    assert backend.stats()["payments_executed"] - before == 1


def test_primary_failover_under_load(spawn, backend, cluster):
    """The primary holding two tenants' counters is killed 1 s into the load; its replica is
    promoted about 2 s later. Redis's own bucket admits at most burst + rate x T whatever
    happens, so `deny` never admits more than the limit; `local` adds at most what the instances'
    local limiters (a third of the limit each) admit during the outage: burst + rate x outage.
    Both limit from Redis again after the failover, and no gateway crashes."""
    rate, burst, seconds = 50, 25, 6.0
    limits = tenant_limit("deny", rate, burst, "deny") + tenant_limit("local", rate, burst, "local")
    gateways = limited_gateways(spawn, backend, cluster, limits, ["deny", "local"], deadline="50ms",
                                breaker="{failures: 3, open_for: 500ms}")
    victim = cluster.primary_of(crc16_slot("deny|t0"))
    local_tenant = next(f"t{i}" for i in range(500) if cluster.primary_of(crc16_slot(f"local|t{i}"))["port"] == victim["port"])
    targets = [("deny", "t0"), ("local", local_tenant)]
    hammer = Hammer(gateways, targets)
    outage = []

    def kill_victim():
        time.sleep(1.0)
        killed = time.monotonic()
        cluster.kill(victim["port"])
        # Over when the cluster names a new primary for the slot (the gateways' next slot map
        # refresh, every 200 ms while degraded, finds it).
        deadline = killed + 10
        while time.monotonic() < deadline:
            try:
                if cluster.primary_of(crc16_slot("deny|t0"))["port"] != victim["port"]:
                    break
            except StopIteration:
                pass  # no primary for the slot yet
            time.sleep(0.05)
        outage.append(time.monotonic() - killed + 0.3)

    elapsed = hammer.run_for(seconds, during=kill_victim)
    assert all(g.proc.alive() for g in gateways), "a gateway crashed"
    deny, local = hammer.counts[targets[0]], hammer.counts[targets[1]]
    assert deny[200] <= (burst + rate * elapsed) * 1.02, deny
    assert deny["other"] > 0, f"the outage was seen (503 rate_limit_unavailable): {deny}"
    assert local[200] <= (2 * burst + rate * (elapsed + outage[0])) * 1.02, (local, outage)
    assert local["other"] == 0, (local, hammer.odd[targets[1]])
    # Promoted: the fresh primary serves the slot and the limit is kept in Redis again.
    cluster.wait_healthy(10)
    assert cluster.primary_of(crc16_slot("deny|t0"))["port"] != victim["port"]
    started = time.monotonic()
    with Conn(gateways[0].port) as c:
        statuses = [c.request("GET", "/echo/deny", {"x-tenant": "after-failover"}).status for _ in range(burst + 10)]
    refilled = rate * (time.monotonic() - started)
    assert burst <= statuses.count(200) <= burst + refilled + 1, (statuses, refilled)
    assert statuses.count(200) + statuses.count(429) == burst + 10, statuses
    print(f"failover: outage {outage[0]:.1f} s; deny {deny}, local {local}, in {elapsed:.1f} s (limit {burst} + {rate}/s)")


def test_resharding_under_load(spawn, backend, cluster):
    """200 slots, among them the tenant's, move to another primary with their keys while three
    gateways hammer the limit: no crash, never more than the limit, calls keep being answered
    (ASK while the slot migrates, MOVED after)."""
    rate, burst, seconds = 50, 25, 5.0
    gateways = limited_gateways(spawn, backend, cluster, tenant_limit("tenant", rate, burst, "deny"), ["tenant"])
    source = cluster.primaries()[0]
    target = cluster.primaries()[1]
    low = min(a for a, _ in source["slots"])
    tenant = next(f"t{i}" for i in range(20000) if low <= crc16_slot(f"tenant|t{i}") < low + 200)
    slot = crc16_slot(f"tenant|{tenant}")
    assert cluster.keyslot(f"rl:{{tenant|{tenant}}}") == slot
    hammer = Hammer(gateways, [("tenant", tenant)])
    output = []

    def reshard():
        time.sleep(0.5)
        started = time.monotonic()
        output.append(cluster.reshard(source, target, 200))
        output.append(time.monotonic() - started)

    moved_before = metric(gateways[0], 'sluice_redis_cluster_redirects_total{kind="moved"}')
    elapsed = hammer.run_for(seconds, during=reshard)
    assert all(g.proc.alive() for g in gateways), "a gateway crashed"
    assert metric(gateways[0], 'sluice_redis_cluster_redirects_total{kind="moved"}') > moved_before, "MOVED was followed"
    assert metric(gateways[0], "sluice_redis_connections_up") == 1
    assert cluster.primary_of(slot)["id"] == target["id"], output[0][-2000:]
    counts = hammer.counts[("tenant", tenant)]
    expected = burst + rate * elapsed
    assert counts[200] <= expected * 1.02, (counts, expected)
    assert counts[200] >= expected * 0.9, (counts, expected)
    assert counts["other"] <= 0.01 * (counts[200] + counts[429]), (counts, hammer.odd)
    print(f"resharding 200 slots took {output[1]:.1f} s; tenant {counts} in {elapsed:.1f} s (expected {expected:.0f})")


def test_a_tls_only_cluster(spawn, backend, tmp_path):
    """Every node speaks TLS only; the gateway verifies their certificates against the policy's
    CA and keeps the limit there: burst, then 429."""
    certificates = make_test_certificates(tmp_path / "certs")
    cluster = RedisCluster(tmp_path / "redis-cluster", certificates=certificates)
    try:
        port = free_port()
        files = gateway_files(port, backend.port, cluster, limited_routes(["tenant"]),
                              "limits:\n" + tenant_limit("tenant", 1, 20, "deny"),
                              tls=f"  tls: {{ca: {certificates / 'ca.pem'}}}\n")
        gateway = spawn.sluice(files, port)
        wait_until_redis_answers(gateway, "/echo/tenant")
        with Conn(gateway.port) as c:
            statuses = [c.request("GET", "/echo/tenant", {"x-tenant": "tls"}).status for _ in range(25)]
        assert statuses[:20] == [200] * 20 and statuses[20:].count(429) >= 4, statuses
        assert int(cluster.cli(cluster.primary_of(crc16_slot("tenant|tls"))["port"], "EXISTS", "rl:tb:{tenant|tls}")) == 1
    finally:
        cluster.stop()
