"""The mock payment backend (sluice-demo-backend): WeChat-Pay-like endpoints, the payment ledger
on /__stats, the behaviour switches (CLI flags and POST /__control) and the notify sender."""
from __future__ import annotations

import http.client
import json
import time

import pytest

from conftest import BACKEND, Proc, free_port


def call(port: int, method: str, path: str, body: str | None = None, headers: dict | None = None) -> tuple[int, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request(method, path, body=body, headers={**({"Content-Type": "application/json"} if body else {}), **(headers or {})})
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def order(mchid: str, no: str, total) -> str:
    return json.dumps({"appid": "wx1", "mchid": mchid, "out_trade_no": no, "description": "tea",
                       "amount": {"total": total, "currency": "CNY"}})


@pytest.fixture
def mock(tmp_path, binaries):
    started = []

    def start(*flags: str) -> int:
        port = free_port()
        p = Proc(f"mock-{port}", [str(BACKEND), "--listen", f"127.0.0.1:{port}", *flags], tmp_path)
        p.wait_for_output(rf"^demo-backend: listening on 127\.0\.0\.1:{port}\b")
        started.append(p)
        return port

    yield start
    for p in started:
        p.stop()


def stats(port: int) -> dict:
    return json.loads(call(port, "GET", "/__stats")[1])


def test_orders_duplicates_refunds_and_stats(mock):
    port = mock()
    assert call(port, "POST", "/v3/pay/transactions/jsapi", order("m1", "T-1", 100))[0] == 200
    status, body = call(port, "POST", "/v3/pay/transactions/jsapi", order("m1", "T-1", 100))
    assert status == 200 and json.loads(body)["duplicate"] is True
    assert call(port, "POST", "/v3/pay/transactions/native", order("m2", "T-1", 100))[0] == 200
    for bad in (1.5, "100", 0):
        status, body = call(port, "POST", "/v3/pay/transactions/jsapi", order("m1", "T-2", bad))
        assert status == 400 and json.loads(body)["code"] == "PARAM_ERROR", body
    xml = "<xml><mch_id>m3</mch_id><out_trade_no>X-1</out_trade_no><total_fee>{}</total_fee></xml>"
    assert call(port, "POST", "/pay/unifiedorder", xml.format(10))[0] == 200
    assert call(port, "POST", "/pay/unifiedorder", xml.format("0.10"))[0] == 400

    status, body = call(port, "GET", "/v3/pay/transactions/out-trade-no/T-1?mchid=m1")
    assert status == 200 and json.loads(body)["amount"]["total"] == 100
    assert call(port, "GET", "/v3/pay/transactions/out-trade-no/NOPE?mchid=m1")[0] == 404
    refund = {"out_trade_no": "T-1", "out_refund_no": "R-1", "amount": {"refund": 40, "total": 100, "currency": "CNY"}}
    assert call(port, "POST", "/v3/refund/domestic/refunds", json.dumps({**refund, "mchid": "m1"}))[0] == 200
    assert call(port, "POST", "/v3/refund/domestic/refunds", json.dumps({**refund, "mchid": "m1"}))[0] == 200
    too_much = {**refund, "mchid": "m1", "out_refund_no": "R-2", "amount": {"refund": 70}}
    assert call(port, "POST", "/v3/refund/domestic/refunds", json.dumps(too_much))[0] == 400
    assert call(port, "POST", "/v3/pay/transactions/out-trade-no/T-1/close?mchid=m1")[0] == 204

    s = stats(port)
    assert s["orders"] == 3 and s["payments_executed"] == 4 and s["duplicate_payments"] == 1
    assert s["refunds"] == 1 and s["duplicate_refunds"] == 1 and s["refunds_rejected"] == 1
    assert s["bad_requests"] == 4 and s["closes"] == 1
    assert s["connections_accepted"] >= 1 and s["requests"] >= 15
    dups = json.loads(call(port, "GET", "/__payments")[1])["duplicates"]
    assert dups == [{"mchid": "m1", "out_trade_no": "T-1", "executions": 2}]


def test_switches_from_flags_and_control(mock):
    port = mock("--mode", "fail", "--fail-status", "502")
    assert call(port, "GET", "/echo/x")[0] == 502
    status, body = call(port, "POST", "/__control", json.dumps({"mode": "normal", "latency": "fixed:150ms"}))
    assert status == 200 and json.loads(body)["latency"] == "fixed:150ms"
    t = time.monotonic()
    assert call(port, "GET", "/echo/x")[0] == 200
    assert time.monotonic() - t >= 0.14
    assert call(port, "POST", "/__control", json.dumps({"mode": "stop", "latency": "none"}))[0] == 200
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        call(port, "GET", "/echo/x")
    assert call(port, "POST", "/__control", json.dumps({"mode": "normal", "error_rate": 1}))[0] == 200
    assert call(port, "GET", "/echo/x")[0] == 500
    status, body = call(port, "POST", "/__control", json.dumps({"error_rate": 3}))
    assert status == 400 and "error_rate" in body
    s = stats(port)
    assert s["injected_errors"] == 2 and s["dropped_connections"] == 1


def test_notify_sender_retries_until_delivered(mock):
    receiver = mock()
    # First the receiver refuses (fail mode), then it accepts: the sender retries.
    call(receiver, "POST", "/__control", json.dumps({"mode": "fail"}))
    port = mock("--notify-url", f"http://127.0.0.1:{receiver}/notify/wechat", "--notify-backoff", "100ms",
                "--notify-retries", "5")
    assert call(port, "POST", "/v3/pay/transactions/jsapi", order("m1", "N-1", 1))[0] == 200
    time.sleep(0.25)
    call(receiver, "POST", "/__control", json.dumps({"mode": "normal"}))
    deadline = time.monotonic() + 5
    while stats(port)["notifications_sent"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    s = stats(port)
    assert s["notifications_sent"] == 1 and s["notification_attempts"] >= 2 and s["notifications_failed"] == 0
    assert stats(receiver)["notifications_received"] == 1


def test_refunds_and_queries_are_for_the_merchant_the_gateway_verified(mock):
    """Behind a gateway the backend takes the merchant from X-Sluice-Merchant: a refund or query
    whose own mchid names another merchant is refused (403), and one without a mchid is looked up
    among the verified merchant's orders only (it found the order's owner, whoever that was)."""
    port = mock()
    assert call(port, "POST", "/v3/pay/transactions/jsapi", order("1900000002", "T-OWNED", 1000))[0] == 200
    m1 = {"X-Sluice-Merchant": "1900000001"}
    refund = lambda mchid: json.dumps({**({"mchid": mchid} if mchid else {}), "out_trade_no": "T-OWNED",
                                       "out_refund_no": "R-OWNED", "amount": {"refund": 1000, "total": 1000, "currency": "CNY"}})
    assert call(port, "POST", "/v3/refund/domestic/refunds", refund("1900000002"), m1)[0] == 403
    assert call(port, "POST", "/v3/refund/domestic/refunds", refund(None), m1)[0] == 404
    assert call(port, "GET", "/v3/pay/transactions/out-trade-no/T-OWNED?mchid=1900000002", headers=m1)[0] == 403
    assert call(port, "GET", "/v3/pay/transactions/out-trade-no/T-OWNED", headers=m1)[0] == 404
    assert stats(port)["refunds"] == 0
    # The owner itself, verified, may.
    m2 = {"X-Sluice-Merchant": "1900000002"}
    assert call(port, "GET", "/v3/pay/transactions/out-trade-no/T-OWNED", headers=m2)[0] == 200
    assert call(port, "POST", "/v3/refund/domestic/refunds", refund(None), m2)[0] == 200

