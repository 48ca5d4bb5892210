"""Payment request validation against the real binary and the mock backend: every malformed
shape is answered 400 with its stable code (WeChat Pay's PARAM_ERROR shape on the pay route,
problem+json on the other) and the backend sees nothing; valid requests are unaffected."""
import json

from conftest import free_port, standard_policy
from rawhttp import Conn

RULES = """\
validations:
  - name: order
    style: wechatpay
    fields:
      mchid: {required: true, type: string, max_length: 32, chars: "0-9"}
      out_trade_no: {required: true, type: string, min_length: 6, max_length: 32, chars: "A-Za-z0-9_*|-"}
      amount.total: {required: true, type: integer, min: 1, max: 100000000}
      amount.currency: {type: string, one_of: [CNY]}
      notify_url: {required: true, type: string, url: {schemes: [https], hosts: ["*.merchant.example"]}}
  - name: strict-echo
    strict: true
    fields:
      id: {required: true, type: string}
      count: {type: integer, min: 0}
"""
GOOD = {"mchid": "1900000001", "out_trade_no": "T-VALID-0001", "notify_url": "https://shop.merchant.example/notify",
        "amount": {"total": 100, "currency": "CNY"}, "description": "tea"}


def gateway(spawn, backend, echo_rule="strict-echo", extra_rules=""):
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n",
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    validation: order\n").replace(
        "    match: {prefix: /echo}\n    cluster: demo\n", f"    match: {{prefix: /echo}}\n    cluster: demo\n    validation: {echo_rule}\n")
    files["validations.yaml"] = RULES + extra_rules
    return spawn.sluice(files, port)


def post(port, path, body: bytes, content_type="application/json"):
    with Conn(port, timeout=10) as c:
        return c.request("POST", path, {"Content-Type": content_type}, body)


def raw_order(total_literal: str) -> bytes:
    text = json.dumps(GOOD)
    return text.replace('"total": 100', f'"total": {total_literal}').encode()


def test_malformed_payments_are_refused_at_the_edge(spawn):
    backend = spawn.backend()
    s = gateway(spawn, backend)
    cases = [
        (raw_order("1.5"), "wrong_type", "amount.total"),          # yuan where fen is expected
        (raw_order('"100"'), "wrong_type", "amount.total"),        # an amount as a string
        (raw_order("100.0"), "wrong_type", "amount.total"),
        (raw_order("1e2"), "wrong_type", "amount.total"),
        (raw_order("0"), "out_of_range", "amount.total"),
        (raw_order("-100"), "out_of_range", "amount.total"),
        (json.dumps({**GOOD, "out_trade_no": "T 0001/2"}).encode(), "invalid_characters", "out_trade_no"),
        (json.dumps({**GOOD, "out_trade_no": "T-1"}).encode(), "too_short", "out_trade_no"),
        (json.dumps({**GOOD, "amount": {"total": 100, "currency": "USD"}}).encode(), "not_allowed_value", "amount.currency"),
        (json.dumps({**GOOD, "notify_url": "http://shop.merchant.example/notify"}).encode(), "invalid_url", "notify_url"),
        (json.dumps({**GOOD, "notify_url": "https://attacker.example/notify"}).encode(), "invalid_url", "notify_url"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "mchid"}).encode(), "missing_field", "mchid"),
    ]
    before = backend.stats()["requests"]
    for body, code, field in cases:
        r = post(s.port, "/v3/pay/transactions/jsapi", body)
        assert r.status == 400, (body, r)
        answer = r.json()
        assert answer["code"] == "PARAM_ERROR" and answer["detail"] == {"field": field, "location": "body", "issue": code}, (body, answer)
    # Not strict JSON at all: the body phase's own 400.
    assert post(s.port, "/v3/pay/transactions/jsapi", b'{"mchid":"1","mchid":"2"}').json()["error"] == "invalid_body"
    assert backend.stats()["requests"] - before == 1, "the backend saw none of them (only this stats request)"
    # A valid order is unaffected.
    ok = post(s.port, "/v3/pay/transactions/jsapi", json.dumps(GOOD).encode())
    assert ok.status == 200 and backend.stats()["payments_executed"] == 1


def test_a_strict_rule_refuses_unknown_fields_as_problem_json(spawn):
    backend = spawn.backend()
    s = gateway(spawn, backend)
    assert post(s.port, "/echo/strict", b'{"id":"a","count":2}').status == 200
    r = post(s.port, "/echo/strict", b'{"id":"a","debug":true}')
    assert r.status == 400 and r.header("content-type") == "application/problem+json"
    assert {k: r.json()[k] for k in ("error", "code", "field", "rule")} == {
        "error": "PARAM_ERROR", "code": "unknown_field", "field": "debug", "rule": "strict-echo"}


def test_large_bodies_are_checked_on_their_thread_pool_and_a_saturated_pool_spares_the_rest(spawn):
    """A rule with `offload` checks bodies over its size on a named thread pool. With that pool
    tiny (1 thread, queue 1, queue timeout 50ms) and flooded with large order bodies, the excess is
    answered 503 bulkhead_full at once, while payments with small bodies (checked on the loop)
    are all answered 200 meanwhile; a large body that finds room is still checked (a bad one 400)."""
    import concurrent.futures
    backend = spawn.backend()
    port = gateway(spawn, backend, echo_rule="big", extra_rules="""\
  - name: big
    offload: {pool: large-bodies, over: 8KiB}
    fields:
      items.*.sku: {required: true, type: string, max_length: 16}
thread_pools:
  - {name: large-bodies, threads: 1, queue: 1, queue_timeout: 50ms}
""").port
    big = json.dumps({"items": [{"sku": f"SKU-{i:06d}", "note": "n" * 1000} for i in range(300)]}).encode()
    assert len(big) > 300_000
    assert post(port, "/echo/big", big).status == 200, "a large body with room on the pool is checked and passes"
    bad = big.replace(b'"SKU-000007"', b'"SKU-THAT-IS-FAR-TOO-LONG"')
    r = post(port, "/echo/big", bad)
    assert r.status == 400 and r.json()["code"] == "too_long", r

    def flood(_):
        return post(port, "/echo/big", big).status

    def payment(i):
        return post(port, "/v3/pay/transactions/jsapi", json.dumps({**GOOD, "out_trade_no": f"T-POOL-{i:04d}"}).encode()).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        floods = [pool.submit(flood, i) for i in range(40)]
        payments = [pool.submit(payment, i) for i in range(40)]
        flood_statuses = [f.result() for f in floods]
        payment_statuses = [f.result() for f in payments]
    assert payment_statuses == [200] * 40, payment_statuses
    assert set(flood_statuses) <= {200, 503}, flood_statuses
    assert flood_statuses.count(503) > 0, "a pool of one thread and a queue of one never filled up"
    r = post(port, "/echo/big", big)
    assert r.status in (200, 503)


def test_a_body_with_a_content_encoding_is_refused_where_a_guard_reads_it(spawn):
    """A guard checks the body's bytes as sent; a backend that decodes a Content-Encoding acts on
    others. A valid order with `Content-Encoding: gzip` and a plain body was validated as plain
    and forwarded with the header. Now 415 (RFC 9110 §15.5.16) with Accept-Encoding: identity;
    `identity` is no encoding; a route whose guards do not read the body forwards it as it was."""
    import gzip
    backend = spawn.backend()
    s = gateway(spawn, backend)
    good = json.dumps({"id": "x", "count": 1}).encode()
    before = backend.stats()["requests"]
    for coding, body in [("gzip", good), ("gzip", gzip.compress(good)), ("identity, br", good), ("GZIP", good)]:
        with Conn(s.port, timeout=10) as c:
            r = c.request("POST", "/echo/coded", {"Content-Type": "application/json", "Content-Encoding": coding}, body)
        assert r.status == 415 and r.json()["error"] == "content_encoding_not_accepted", (coding, r)
        assert r.header("accept-encoding") == "identity", r
    assert backend.stats()["requests"] - before == 1  # the stats request only
    with Conn(s.port, timeout=10) as c:
        r = c.request("POST", "/echo/coded", {"Content-Type": "application/json", "Content-Encoding": "identity"}, good)
    assert r.status == 200, r
    with Conn(s.port, timeout=10) as c:   # the `small` route has no guard reading bodies
        r = c.request("POST", "/small/coded", {"Content-Type": "application/json", "Content-Encoding": "gzip"}, gzip.compress(good))
    assert r.status == 200, r
