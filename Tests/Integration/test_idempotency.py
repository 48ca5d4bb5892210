"""Gateway idempotency against the real binary, the mock payment backend and a real
redis-server: however clients and notifiers retry, the backend executes each payment and takes
each notification once (its ledger counts every duplicate execution).

- 50 concurrent identical submits: 1 execution, the others 409 or replayed;
- a retry after a gateway timeout (backend slow, then fast): 409 outcome_unknown, never a
  second execution; with `on_unknown: forward` the retry goes through;
- the same key with another amount: 422; spellings of the path share one record;
- the backend's notify sender resending a notification 10 times (signed afresh each time, as
  WeChat Pay does): processed once, every copy acknowledged;
- Redis restarted mid-run with `deny`: 503 while it is away, replays after, no duplicate."""
import hashlib
import json
import signal
import subprocess
import threading
import time
import urllib.request

from conftest import REPO, SLUICE, Redis, bundled_policy, free_port, standard_policy
from rawhttp import Conn

PAY = "/v3/pay/transactions/jsapi"
PLATFORM_PRIVATE_KEY = REPO / "Tests" / "SluiceAuthTests" / "Vectors" / "wechatpay-go-test-key.pem"
PLATFORM_PUBLIC_KEY = REPO / "policies" / "keys" / "wechatpay-platform-demo.pem"


def order(no: str, total: int = 100) -> bytes:
    return json.dumps({"appid": "wxd678efh567hg6787", "mchid": "1900000001", "description": "tea", "out_trade_no": no,
                       "notify_url": "https://merchant.example/notify", "amount": {"total": total, "currency": "CNY"},
                       "payer": {"openid": "o4GgauInH_RCEdvrrNGrntXDu6D4"}}).encode()


def gateway(spawn, backend, redis, *, per_try="5s", on_unknown="conflict", failure="deny", extra_routes="", extra_files=None,
            redis_deadline="200ms", redis_breaker="{failures: 3, open_for: 300ms}"):
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    timeouts: {per_try: 5s, total: 10s}\n",
        f"    match: {{methods: [POST], path: /v3/pay/transactions/jsapi}}\n    cluster: demo\n"
        f"    timeouts: {{per_try: {per_try}, total: 10s}}\n    idempotency: orders\n") + extra_routes
    files["idempotency.yaml"] = f"""\
redis: {{address: 127.0.0.1:{redis.port}, deadline: {redis_deadline}, breaker: {redis_breaker}}}
idempotency:
  - name: orders
    key:
      - header: idempotency-key
      - body: [mchid, out_trade_no]
    required: true
    on_unknown: {on_unknown}
    on_redis_failure: {failure}
  - name: notify
    key: [{{body: [id]}}]
    replay: wechatpay_v3
    in_flight_wait: 2s
"""
    files.update(extra_files or {})
    return spawn.sluice(files, port)


def pay(port, body, key=None, target=PAY, extra=None):
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    headers.update(extra or {})
    with Conn(port, timeout=15) as c:
        return c.request("POST", target, headers, body)


def executions(backend):
    stats = backend.stats()
    return stats["payments_executed"], stats["duplicate_payments"]


def test_concurrent_identical_submits_execute_once(spawn, redis):
    backend = spawn.backend()
    s = gateway(spawn, backend, redis)
    body = order("T-CONCURRENT-1")
    results, start = [], threading.Event()

    def submit():
        start.wait()
        # The backend holds the first one 300 ms, so the others arrive while it is in flight.
        results.append(pay(s.port, body, '"k-concurrent-1"', extra={"X-Demo-Delay-Ms": "300"}))

    threads = [threading.Thread(target=submit) for _ in range(50)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(20)
    assert len(results) == 50
    statuses = sorted(r.status for r in results)
    fresh = [r for r in results if r.status == 200 and r.header("idempotent-replayed") is None]
    replayed = [r for r in results if r.header("idempotent-replayed") == "true"]
    conflicts = [r for r in results if r.status == 409]
    assert len(fresh) == 1, statuses
    assert len(replayed) + len(conflicts) == 49, statuses
    for r in conflicts:
        assert r.json()["error"] == "request_in_flight" and r.header("retry-after") == "1", r
        assert r.header("content-type") == "application/problem+json"
    for r in replayed:
        assert r.status == 200 and r.body == fresh[0].body, r
    # Retries later: with the key, without it, or with a fresh key (clients that make a new key
    # per attempt): the order's business key (mchid + out_trade_no) was claimed too, so each
    # gets the stored answer.
    for key in ["k-concurrent-1", None, "k-concurrent-fresh"]:
        again = pay(s.port, body, key)
        assert again.status == 200 and again.header("idempotent-replayed") == "true" and again.body == fresh[0].body, (key, again)
    assert executions(backend) == (1, 0)


def test_retry_after_a_gateway_timeout_is_never_executed_twice(spawn, redis):
    backend = spawn.backend()
    s = gateway(spawn, backend, redis, per_try="400ms")
    body = order("T-TIMEOUT-1")
    # Slow backend: the gateway gives up after 400 ms; the backend still executes at 1.2 s.
    first = pay(s.port, body, "k-timeout", extra={"X-Demo-Delay-Ms": "1200"})
    assert first.status == 504, first
    retry = pay(s.port, body, "k-timeout")  # the backend is fast again
    # At once after the 504 the record may not be marked unknown yet (the gateway tells the guard
    # as the request ends, after the 504 went out): then the retry is told the original is still
    # in flight, which it is (the backend is still working on it). Either way: 409, not executed.
    assert retry.status == 409 and retry.json()["error"] in ("outcome_unknown", "request_in_flight"), retry
    time.sleep(1.2)
    again = pay(s.port, body, "k-timeout")
    assert again.status == 409 and again.json()["error"] == "outcome_unknown", again
    assert executions(backend) == (1, 0), "the slow original executed, no retry did"


def test_on_unknown_forward_lets_the_retry_through(spawn, redis):
    backend = spawn.backend()
    s = gateway(spawn, backend, redis, per_try="400ms", on_unknown="forward")
    body = order("T-TIMEOUT-2")
    assert pay(s.port, body, "k-forward", extra={"X-Demo-Delay-Ms": "1200"}).status == 504
    time.sleep(1.2)
    retry = pay(s.port, body, "k-forward")
    # The route says the backend is idempotent itself: the retry reaches it, and it answers with
    # the order it already has (the mock ledger counts that execution as a duplicate).
    assert retry.status == 200 and retry.header("idempotent-replayed") is None, retry
    assert retry.json()["duplicate"] is True
    assert executions(backend) == (2, 1)
    replay = pay(s.port, body, "k-forward")
    assert replay.header("idempotent-replayed") == "true" and replay.body == retry.body
    assert executions(backend) == (2, 1)


def test_same_key_other_amount_is_422_and_path_spellings_share_the_record(spawn, redis):
    backend = spawn.backend()
    s = gateway(spawn, backend, redis)
    assert pay(s.port, order("T-REUSE-1"), "k-reuse").status == 200
    reused = pay(s.port, order("T-REUSE-1", total=900), "k-reuse")
    assert reused.status == 422 and reused.json()["error"] == "idempotency_key_reused", reused
    # Spellings of the protected path are routed, fingerprinted and recorded as one.
    for target in ["//v3/pay/transactions/jsapi", "/v3/pay/./transactions/jsapi", "/v3/pay/x/../transactions/jsapi",
                   "/v3/pay/transactions/%6Asapi"]:
        r = pay(s.port, order("T-REUSE-1"), "k-reuse", target=target)
        assert r.status == 200 and r.header("idempotent-replayed") == "true", (target, r)
    # No key at all (no header, no out_trade_no): 400, and nothing reaches the backend.
    missing = pay(s.port, json.dumps({"mchid": "1900000001", "amount": {"total": 1}}).encode())
    assert missing.status == 400 and missing.json()["error"] == "idempotency_key_missing", missing
    bad = pay(s.port, order("T-REUSE-2"), '"unterminated')
    assert bad.status == 400 and bad.json()["error"] == "invalid_idempotency_key", bad
    assert executions(backend) == (1, 0)


def test_a_key_first_sent_on_a_replayed_order_is_recorded(spawn, redis):
    """An order sent without an Idempotency-Key, then again with one (answered from the order's
    record): the key was not recorded, and the same key on another order created that order
    (200) instead of 422 idempotency_key_reused. The README's own walkthrough did this."""
    backend = spawn.backend()
    s = gateway(spawn, backend, redis)
    assert pay(s.port, order("T-KEY-LATER")).status == 200
    replayed = pay(s.port, order("T-KEY-LATER"), "k-later")
    assert replayed.status == 200 and replayed.header("idempotent-replayed") == "true", replayed
    other = pay(s.port, order("T-KEY-OTHER"), "k-later")
    assert other.status == 422 and other.json()["error"] == "idempotency_key_reused", other
    again = pay(s.port, order("T-KEY-LATER"), "k-later")
    assert again.status == 200 and again.header("idempotent-replayed") == "true", again
    assert executions(backend) == (1, 0)


def test_a_retry_sent_the_moment_the_answer_arrives_is_replayed(spawn, redis):
    """Eight clients each pay and, as soon as the answer is read, send the same order again on a
    new connection (another loop, another Redis connection). Every retry is the stored answer,
    never 409 request_in_flight: the record's completion was told after the answer went out
    (and a busy loop ran other work first), and a claim that Redis answered just before the
    completion landed found the completion already gone from this process (4 to 9 of 480
    retries got 409)."""
    backend = spawn.backend()
    s = gateway(spawn, backend, redis)
    refused = []

    def client(n):
        for i in range(60):
            body = order(f"T-AT-ONCE-{n}-{i}")
            first = pay(s.port, body, f"k-at-once-{n}-{i}")
            again = pay(s.port, body, f"k-at-once-{n}-{i}")
            if first.status != 200 or again.status != 200 or again.header("idempotent-replayed") != "true":
                refused.append((n, i, first.status, again.status, again.body[:60]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not refused, (len(refused), refused[:5])
    assert executions(backend) == (480, 0)


def test_routes_sharing_a_rule_share_its_records(spawn, redis):
    """A checkout that falls back from JSAPI to a Native QR code after a timeout, with the same
    out_trade_no: both routes name the `orders` rule, so the second finds the first's record
    (422: another request with the key) and the order is executed once (records kept per
    route let both through: executions == 2, one a duplicate)."""
    backend = spawn.backend()
    native = """\
  - name: native
    class: core
    match: {methods: [POST], path: /v3/pay/transactions/native}
    cluster: demo
    idempotency: orders
"""
    s = gateway(spawn, backend, redis, extra_routes=native)
    assert pay(s.port, order("T-BOTH-ROUTES")).status == 200
    again = pay(s.port, order("T-BOTH-ROUTES"), target="/v3/pay/transactions/native")
    assert again.status == 422 and again.json()["error"] == "idempotency_key_reused", again
    assert executions(backend) == (1, 0)


V2_KEY_FILE = REPO / "policies" / "keys" / "1900000001.v2key"


def v3_signature(body, tmp_path):
    """The Authorization field `sluice sign` makes for a v3 order with the bundled demo
    merchant's HMAC key, as (name, value)."""
    (tmp_path / "order.json").write_bytes(body)
    signature = subprocess.run(
        [str(SLUICE), "sign", "--key-file", str(REPO / "policies" / "keys" / "1900000001.hmac"), "--merchant", "1900000001",
         "--method", "POST", "--path", PAY, "--body-file", str(tmp_path / "order.json")], capture_output=True, check=True).stdout
    name, _, value = signature.decode().strip().partition(": ")
    return name, value


def v3_signed(port, body, tmp_path, extra=None):
    """A v3 order signed with `sluice sign` and the bundled demo merchant's HMAC key."""
    name, value = v3_signature(body, tmp_path)
    return pay(port, body, extra={name: value, **(extra or {})})


def v2_signed(port, no, raw_no=None, nonce="5K8264ILTKCH16CQ2502SI8ZNMTM67VS", fee="100"):
    """A v2 /pay/unifiedorder XML order signed (MD5, here in Python) with the bundled v2 key;
    `raw_no` is the out_trade_no as written in the XML, when it is spelled otherwise."""
    fields = {"appid": "wxd678efh567hg6787", "mch_id": "1900000001", "nonce_str": nonce,
              "body": "tea", "out_trade_no": no, "total_fee": fee, "spbill_create_ip": "127.0.0.1",
              "notify_url": "https://merchant.example/notify", "trade_type": "NATIVE"}
    string_a = "&".join(f"{k}={v}" for k, v in sorted(fields.items())) + "&key=" + V2_KEY_FILE.read_text().strip()
    sign = hashlib.md5(string_a.encode()).hexdigest().upper()
    written = dict(fields, out_trade_no=raw_no if raw_no is not None else no, sign=sign)
    body = ("<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in written.items()) + "</xml>").encode()
    with Conn(port, timeout=15) as c:
        return c.request("POST", "/pay/unifiedorder", {"Content-Type": "text/xml"}, body)


def bundled_gateway(spawn, backend, redis):
    port = free_port()
    return spawn.sluice(bundled_policy(port, backend.port, redis.port, free_port()), port)


def test_one_order_through_the_v3_and_the_v2_api_executes_once(spawn, redis, tmp_path):
    """The bundled policy: an order created through v3 (JSON, merchant HMAC) and sent again, after
    a timeout, through v2's /pay/unifiedorder (XML, signed with the merchant's v2 key) with the
    same out_trade_no, or the other way round, is one order: the v2 rule keeps its records with
    the v3 rule's (`records: orders`, its `mch_id` known as `mchid`), so the second gets 422 and
    the backend executes it once (records per rule executed both: (2, 1))."""
    backend = spawn.backend()
    s = bundled_gateway(spawn, backend, redis)
    assert v3_signed(s.port, order("T-V3-THEN-V2"), tmp_path).status == 200
    again = v2_signed(s.port, "T-V3-THEN-V2")
    # In v2's own XML (the route's `replies: wechatpay_v2`): v2 SDKs read return_code, not JSON.
    assert again.status == 422 and again.header("content-type") == "application/xml", again
    assert b"<return_code><![CDATA[FAIL]]></return_code>" in again.body and b"<err_code><![CDATA[idempotency_key_reused]]>" in again.body, again
    assert v2_signed(s.port, "T-V2-THEN-V3").status == 200
    again = v3_signed(s.port, order("T-V2-THEN-V3"), tmp_path)
    assert again.status == 422 and again.json()["error"] == "idempotency_key_reused", again
    assert executions(backend) == (2, 0), "each order executed once"
    # Other refusals on the v2 route are in its XML too: a bad sign (401).
    with Conn(s.port, timeout=15) as c:
        bad = c.request("POST", "/pay/unifiedorder", {"Content-Type": "text/xml"},
                        b"<xml><mch_id>1900000001</mch_id><out_trade_no>T-BAD-SIGN</out_trade_no><sign>" + b"0" * 32 + b"</sign></xml>")
    assert bad.status == 401 and bad.header("content-type") == "application/xml", bad
    assert b"<err_code><![CDATA[bad_signature]]>" in bad.body, bad
    # A new order number through v2 alone is a new order. An SDK's retry of it, signed afresh
    # with a new nonce_str, gets the stored answer (`fingerprint_ignores: [nonce_str, sign]`);
    # the same order number with another amount is still another request (422).
    first = v2_signed(s.port, "T-V2-ONLY")
    assert first.status == 200
    retry = v2_signed(s.port, "T-V2-ONLY", nonce="RETRY0NONCE0FRESH0SIGNATURE00001")
    assert retry.status == 200 and retry.header("idempotent-replayed") == "true" and retry.body == first.body, retry
    other = v2_signed(s.port, "T-V2-ONLY", nonce="RETRY0NONCE0FRESH0SIGNATURE00002", fee="200")
    assert other.status == 422 and b"idempotency_key_reused" in other.body, other
    assert executions(backend) == (3, 0)


def test_an_order_keyed_apart_by_its_spelling_is_refused_before_the_backend(spawn, redis, tmp_path):
    """The bundled policy keys an order by the body's mchid and out_trade_no. A merchant signing
    an order whose body names another merchant (or its own id as `01900000001`, which a numeric
    field reads as the same) booked it under that merchant and keyed it apart from its own orders;
    a v2 order number with a space or line break (which a trimming backend reads as the v3 order)
    got a record of its own. All are refused now (mchid must be the signer, v2 order numbers have
    v3's rules), and the backend executes nothing of them."""
    backend = spawn.backend()
    s = bundled_gateway(spawn, backend, redis)
    for mchid in ["1900000002", "01900000001"]:
        body = order("T-OTHER-MCHID").replace(b'"mchid": "1900000001"', f'"mchid": "{mchid}"'.encode())
        assert f'"mchid": "{mchid}"'.encode() in body
        r = v3_signed(s.port, body, tmp_path)
        assert r.status == 400 and r.json()["code"] == "PARAM_ERROR", r
        assert r.json()["detail"] == {"field": "mchid", "location": "body", "issue": "merchant_mismatch"}, r
    assert v3_signed(s.port, order("T-SPELLED"), tmp_path).status == 200
    for raw in [" T-SPELLED", "T-SPELLED\n", "<![CDATA[ T-SPELLED ]]>", "T-SPELLED\t"]:
        r = v2_signed(s.port, raw.replace("<![CDATA[", "").replace("]]>", ""), raw_no=raw)
        assert r.status == 400 and r.header("content-type") == "application/xml", (raw, r)
        assert b"<return_code><![CDATA[FAIL]]></return_code>" in r.body and b"invalid_characters" in r.body, (raw, r)
    # A character reference to an ASCII character: checked and signed as `T-SPELLED`, read as
    # `T-SPELLE&#68;` by a backend that does not decode references (the demo backend).
    for raw in ["T-SPELLE&#68;", "T-SPELLE&#x44;"]:
        r = v2_signed(s.port, "T-SPELLED", raw_no=raw)
        assert r.status == 400 and r.header("content-type") == "application/xml", (raw, r)
        assert b"xml_invalid_char_ref" in r.body, (raw, r)
    assert executions(backend) == (1, 0)


def test_an_order_in_flight_across_a_reload_of_the_redis_settings_is_completed(spawn, redis, tmp_path):
    """The bundled policy; a reload that changes the `redis` section (its deadline) while an order
    is in flight: the order executes and its answer must be stored, so a retry gets it replayed.
    The record was never completed (the old connections closed under it): every retry got 409
    request_in_flight, then outcome_unknown for the record's TTL, for an order that succeeded."""
    backend = spawn.backend()
    s = bundled_gateway(spawn, backend, redis)
    body = order("T-RELOAD-1")
    first = []
    thread = threading.Thread(target=lambda: first.append(v3_signed(s.port, body, tmp_path, extra={"X-Demo-Delay-Ms": "1500"})))
    thread.start()
    time.sleep(0.5)
    limits = s.policy_dir / "limits.yaml"
    text = limits.read_text()
    assert "deadline: 5ms" in text
    limits.write_text(text.replace("deadline: 5ms", "deadline: 10ms"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\): generation 2", stream="stderr", timeout=5)
    thread.join(15)
    assert first and first[0].status == 200, first
    deadline = time.monotonic() + 5
    while (again := v3_signed(s.port, body, tmp_path)).status == 409 and again.json()["error"] == "request_in_flight":
        assert time.monotonic() < deadline, "the record was never completed"
        time.sleep(0.2)
    assert again.status == 200 and again.header("idempotent-replayed") == "true" and again.body == first[0].body, again
    assert executions(backend) == (1, 0)


def notify_gateway(spawn, backend, redis, path):
    """A gateway whose notify route at `path` verifies WeChat Pay's platform signature (the SDK's
    published test key) and keeps notifications' records under the `notify` rule."""
    route = f"""\
  - name: notify
    class: core
    match: {{methods: [POST], path: {path}}}
    cluster: demo
    timeouts: {{per_try: 3s, total: 5s}}
    max_body: 64KiB
    auth: [wechatpay_callback]
    idempotency: notify
"""
    return gateway(spawn, backend, redis, extra_routes=route, extra_files={
        "keys/platform.pem": PLATFORM_PUBLIC_KEY.read_text(),
        "auth.yaml": "auth: {wechatpay_platform_keys: [{serial: PUB_KEY_ID_DEMO, public_key: keys/platform.pem}]}\n"})


def test_a_notification_resent_ten_times_is_processed_once(spawn, redis):
    backend = spawn.backend()
    s = notify_gateway(spawn, backend, redis, "/notify/wechat")
    control(backend, {"notify_url": f"http://127.0.0.1:{s.port}/notify/wechat", "notify_copies": 10,
                      "notify_signing_key": str(PLATFORM_PRIVATE_KEY), "notify_serial": "PUB_KEY_ID_DEMO"})
    # An order paid at the backend makes it notify through the gateway, ten times.
    with Conn(backend.port) as c:
        assert c.request("POST", PAY, {"Content-Type": "application/json"}, order("T-NOTIFY-1")).status == 200
    deadline = time.monotonic() + 10
    while (stats := backend.stats())["notifications_sent"] + stats["notifications_failed"] < 10:
        assert time.monotonic() < deadline, stats
        time.sleep(0.05)
    assert stats["notifications_sent"] == 10, stats  # every copy was acknowledged (2xx)
    assert stats["notifications_processed"] == 1, stats
    assert stats["duplicate_notifications"] == 0, stats
    assert stats["notifications_received"] == 1, stats


def test_a_notification_resent_with_other_bytes_is_still_acknowledged(spawn, redis):
    """A resend is the same notification when its id is: WeChat re-signs every resend and may
    encrypt its resource afresh. With the body in the fingerprint, such a resend got 422 and the
    provider, never acknowledged, kept resending."""
    from test_auth import sign_callback
    backend = spawn.backend()
    s = notify_gateway(spawn, backend, redis, "/echo/notify")
    first = json.dumps({"id": "EV-RESENT-1", "resource": {"ciphertext": "first-encryption"}}).encode()
    again = json.dumps({"id": "EV-RESENT-1", "resource": {"ciphertext": "second-encryption"}}).encode()
    before = backend.stats()["requests"]
    with Conn(s.port) as c:
        r1 = c.request("POST", "/echo/notify", sign_callback(first, serial="PUB_KEY_ID_DEMO"), first)
        r2 = c.request("POST", "/echo/notify", sign_callback(again, serial="PUB_KEY_ID_DEMO"), again)
    assert r1.status == 200, r1
    assert r2.status == 200 and r2.json() == {"code": "SUCCESS", "message": "OK"}, r2
    assert backend.stats()["requests"] - before == 2  # the first notification and the stats call


def test_a_notification_whose_outcome_is_unknown_reaches_the_backend_on_the_resend(spawn, redis):
    """The backend's connection dies with a notification (here: it outlasts the route's per-try
    timeout). A 409 outcome_unknown is no acknowledgement: the provider resends into it until it
    gives up, and the merchant never learns the payment succeeded. Notification rules forward an
    unknown outcome again by default; the answer then completes the record."""
    from test_auth import sign_callback
    backend = spawn.backend()
    s = notify_gateway(spawn, backend, redis, "/echo/notify")
    body = json.dumps({"id": "EV-UNKNOWN-1", "resource": {"ciphertext": "c"}}).encode()
    before = backend.stats()["requests"]
    with Conn(s.port, timeout=15) as c:
        lost = c.request("POST", "/echo/notify", {**sign_callback(body, serial="PUB_KEY_ID_DEMO"), "X-Demo-Delay-Ms": "3500"}, body)
    assert lost.status == 504, lost
    with Conn(s.port) as c:
        resent = c.request("POST", "/echo/notify", sign_callback(body, serial="PUB_KEY_ID_DEMO"), body)
    assert resent.status == 200 and resent.header("idempotent-replayed") is None, resent
    with Conn(s.port) as c:
        again = c.request("POST", "/echo/notify", sign_callback(body, serial="PUB_KEY_ID_DEMO"), body)
    assert again.status == 200 and again.json() == {"code": "SUCCESS", "message": "OK"}, again
    # The first (timed out), the resend, and the stats call; the last resend was acknowledged.
    assert backend.stats()["requests"] - before == 3


def test_redis_restarted_mid_run_causes_no_duplicate(spawn, tmp_path):
    redis = Redis(tmp_path / "redis-persistent", persistent=True)
    try:
        backend = spawn.backend()
        s = gateway(spawn, backend, redis)
        bodies = {f"k-restart-{i}": order(f"T-RESTART-{i}") for i in range(20)}
        first = {key: pay(s.port, body, key) for key, body in bodies.items()}
        assert all(r.status == 200 for r in first.values())
        redis.shutdown()
        # Away: every attempt is refused (deny), nothing reaches the backend.
        for key, body in list(bodies.items())[:5]:
            r = pay(s.port, body, key)
            assert r.status == 503 and r.json()["error"] == "idempotency_unavailable" and r.header("retry-after") == "1", r
        r = pay(s.port, order("T-RESTART-NEW"), "k-restart-new")
        assert r.status == 503, r
        redis.start()
        # Back (each loop's connection reconnects within its backoff; until then, still 503):
        # every retry is the stored answer.
        deadline = time.monotonic() + 10
        for key, body in bodies.items():
            while (r := pay(s.port, body, key)).status == 503:
                assert time.monotonic() < deadline, "the gateway did not reconnect to Redis"
                time.sleep(0.1)
            assert r.status == 200 and r.header("idempotent-replayed") == "true" and r.body == first[key].body, (key, r)
        assert executions(backend) == (20, 0)
        assert pay(s.port, order("T-RESTART-NEW"), "k-restart-new").status == 200
        assert executions(backend) == (21, 0)
    finally:
        redis.stop()


def test_an_answer_completed_while_redis_restarts_is_stored_once_it_is_back(spawn, tmp_path):
    """Redis (persistent) is killed while an order is at the backend and started again after its
    answer went out: the order executed, but its completion found no Redis. It is sent again
    until Redis takes it, so a retry, here through a second gateway sharing Redis, gets the stored
    200. It was sent once: the record stayed in flight, then unknown for 24 h, and no retry ever
    got the answer."""
    redis = Redis(tmp_path / "redis-persistent", persistent=True)
    try:
        backend = spawn.backend()
        first_gateway, second_gateway = gateway(spawn, backend, redis), gateway(spawn, backend, redis)
        body = order("T-REDIS-KILLED")
        first = []
        thread = threading.Thread(target=lambda: first.append(pay(first_gateway.port, body, "k-killed",
                                                                 extra={"X-Demo-Delay-Ms": "1500"})))
        thread.start()
        time.sleep(0.5)
        redis.kill()
        thread.join(15)
        assert first and first[0].status == 200, first
        redis.start()  # with the data: the claim is there, in flight
        deadline = time.monotonic() + 12
        while (again := pay(second_gateway.port, body, "k-killed")).status in (409, 503):
            assert time.monotonic() < deadline, ("the answer never reached Redis", again)
            time.sleep(0.3)
        assert again.status == 200 and again.header("idempotent-replayed") == "true" and again.body == first[0].body, again
        assert executions(backend) == (1, 0)
    finally:
        redis.stop()


def test_an_order_refused_while_redis_stalled_can_be_retried(spawn, redis):
    """Redis stalls past the claim's deadline: the order is refused (503, deny) and never reaches
    the backend, and Redis runs the claim once it wakes. That claim is released, so the client's
    retry is executed once, instead of 409 in flight and then outcome unknown for a day."""
    backend = spawn.backend()
    s = gateway(spawn, backend, redis)
    assert pay(s.port, order("T-STALL-WARM"), "k-stall-warm").status == 200  # the scripts are loaded
    redis.pause()
    try:
        r = pay(s.port, order("T-STALL"), "k-stall")
        assert r.status == 503 and r.json()["error"] == "idempotency_unavailable", r
    finally:
        redis.resume()
    # The client retries as the 503 says (Retry-After: 1); by then the release has run.
    time.sleep(int(r.header("retry-after")))
    r = pay(s.port, order("T-STALL"), "k-stall")
    assert r.status == 200 and r.header("idempotent-replayed") is None, r
    again = pay(s.port, order("T-STALL"), "k-stall")
    if again.status == 409 and again.json()["error"] == "request_in_flight":
        # Sent the instant the answer arrived, it can beat the record's completion (the outcome
        # is told after the response is relayed): a client waits the Retry-After.
        time.sleep(int(again.header("retry-after")))
        again = pay(s.port, order("T-STALL"), "k-stall")
    assert again.status == 200 and again.header("idempotent-replayed") == "true", again
    assert executions(backend) == (2, 0)


def test_an_order_outlives_a_redis_pause_longer_than_the_rate_limits_deadline(spawn, redis, tmp_path):
    """The bundled policy: Redis answers nothing for 25 ms (a busy host, a fork for a snapshot).
    Nonces and limits fall back to each gateway's own (their 5 ms deadline, `local`); the order's
    record gets its rule's `redis_deadline: 50ms`, so the order goes through once instead of
    503 idempotency_unavailable (what a 5 ms claim deadline gave under host load)."""
    backend = spawn.backend()
    s = bundled_gateway(spawn, backend, redis)
    assert v3_signed(s.port, order("T-PAUSE-WARM"), tmp_path).status == 200  # scripts loaded, connections up
    name, value = v3_signature(order("T-PAUSE"), tmp_path)   # signed first: `sluice sign` takes longer than the pause
    redis.pause()
    resumer = threading.Timer(0.025, redis.resume)
    resumer.start()
    try:
        r = pay(s.port, order("T-PAUSE"), extra={name: value})
    finally:
        resumer.join()
        redis.resume()
    assert r.status == 200, r
    again = v3_signed(s.port, order("T-PAUSE"), tmp_path)
    assert again.status == 200 and again.header("idempotent-replayed") == "true", again
    assert executions(backend) == (2, 0)


def test_one_redis_stall_does_not_open_the_redis_breaker(spawn, redis):
    """A Redis stall times out every claim waiting at that moment at once (8 here, over a breaker
    of 3 failures): one blip, not a dead Redis. With `failing_for`, the breaker stays closed and
    the next order goes through at once, instead of 503 for the whole `open_for`."""
    backend = spawn.backend()
    s = gateway(spawn, backend, redis, redis_deadline="50ms", redis_breaker="{failures: 3, failing_for: 1s, open_for: 10s}")
    assert pay(s.port, order("T-BLIP-WARM"), "k-blip-warm").status == 200
    results = []
    redis.pause()
    try:
        threads = [threading.Thread(target=lambda i=i: results.append(pay(s.port, order(f"T-BLIP-{i}"), f"k-blip-{i}")))
                   for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    finally:
        redis.resume()
    assert [r.status for r in results] == [503] * 8, results
    r = pay(s.port, order("T-BLIP-AFTER"), "k-blip-after")
    assert r.status == 200, r
    assert executions(backend) == (2, 0)


def control(backend, settings: dict) -> None:
    request = urllib.request.Request(backend.url + "/__control", data=json.dumps(settings).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as r:
        assert r.status == 200



def test_a_key_field_without_a_value_is_refused_and_a_request_without_a_key_is_logged(spawn, redis):
    """A key field the body has but empty (`"id": ""`, null, an object) was taken for no key: the
    request went to the backend without duplicate protection and nothing said so. It is 400 now;
    a request with no key on a rule that does not require one is forwarded with the reason
    `idempotency_key_missing` in the access log; and a respelled `Idempotency_Key` (the same field
    to a CGI, WSGI or PHP backend) is not forwarded, as the guard never read it."""
    backend = spawn.backend()
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {prefix: /echo}\n    cluster: demo\n", "    match: {prefix: /echo}\n    cluster: demo\n    idempotency: events\n")
    files["idempotency.yaml"] = f"""\
redis: {{address: 127.0.0.1:{redis.port}, deadline: 200ms}}
idempotency:
  - name: events
    key: [{{header: idempotency-key}}, {{body: [id]}}]
"""
    s = spawn.sluice(files, port)

    def post(body, headers=()):
        with Conn(s.port) as c:
            return c.request("POST", "/echo/events", [("Content-Type", "application/json"), *headers], json.dumps(body).encode())

    before = backend.stats()["requests"]
    for value in ["", None, {}, []]:
        r = post({"id": value, "event_type": "TRANSACTION.SUCCESS"})
        assert r.status == 400 and r.json()["error"] == "invalid_idempotency_key", (value, r)
        assert "id must be a non-empty" in r.json()["message"], r
    assert backend.stats()["requests"] - before == 1  # the stats request only

    r = post({"event_type": "TRANSACTION.SUCCESS"}, [("Idempotency_Key", "k-unread"), ("idempotency.key", "k-unread-2")])
    assert r.status == 200, r
    forwarded = [k for k, _ in dict(json.loads(r.body, object_pairs_hook=list))["headers"]]
    assert not [k for k in forwarded if k.replace("_", "-").replace(".", "-") == "idempotency-key"], forwarded
    r = post({"id": "EV-1"}, [("Idempotency-Key", "k-1"), ("IDEMPOTENCY_KEY", "k-unread")])
    assert r.status == 200, r
    forwarded = [(k, v) for k, v in dict(json.loads(r.body, object_pairs_hook=list))["headers"]
                 if k.replace("_", "-").replace(".", "-") == "idempotency-key"]
    assert forwarded == [("idempotency-key", "k-1")], forwarded

    deadline = time.monotonic() + 5
    while len(lines := [r for r in s.access_log() if r["path"] == "/echo/events"]) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    # Two loops, each with its own log buffer: compared without their order.
    assert sorted((r["status"], r.get("reason") or "") for r in lines) == sorted(
        [(400, "invalid_idempotency_key")] * 4 + [(200, "idempotency_key_missing"), (200, "")]), lines
