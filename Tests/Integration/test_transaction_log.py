"""The transaction log: one JSON line per call to a core (payment) route, in its own file, with
the merchant, the order, the amount in fen, the outcome, latency and ids; none for other routes."""
import json
import time

from conftest import free_port, standard_policy
from rawhttp import Conn

ORDER = {"mchid": "1900000001", "out_trade_no": "T-TXLOG-0001", "amount": {"total": 250}}


def logging_gateway(spawn, backend, log):
    """The standard policy with a transaction log at `log` and the pay route's body read (a
    validation rule), so that its records carry the order's fields."""
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["gateway.yaml"] = files["gateway.yaml"].replace("access_log: stdout", f"access_log: stdout, transaction_log: {log}")
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n",
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    validation: order\n")
    files["validations.yaml"] = "validations:\n  - {name: order, fields: {amount.total: {type: integer, min: 1}}}\n"
    return spawn.sluice(files, port)


def test_payment_calls_are_logged_with_their_order_and_amount(spawn, backend, tmp_path):
    log = tmp_path / "transactions.jsonl"
    s = logging_gateway(spawn, backend, log)
    with Conn(s.port) as c:
        ok = c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json", "traceparent":
                       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, json.dumps(ORDER).encode())
        refused = c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json"},
                            json.dumps({**ORDER, "amount": {"total": "2.50"}}).encode())
        assert c.request("GET", "/echo/not-a-payment").status == 200
    assert ok.status == 200 and refused.status == 400
    deadline = time.monotonic() + 3
    while not log.exists() or len(log.read_text().splitlines()) < 2:
        assert time.monotonic() < deadline, "transaction log lines missing"
        time.sleep(0.05)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 2, lines
    first, second = lines
    assert {k: first[k] for k in ("route", "merchant", "out_trade_no", "amount_fen", "status", "outcome", "trace_id")} == {
        "route": "pay", "merchant": "1900000001", "out_trade_no": "T-TXLOG-0001", "amount_fen": 250, "status": 200,
        "outcome": "ok", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}
    assert first["request_id"] == ok.header("x-request-id") and first["duration_ms"] >= 0
    assert second["outcome"] == "failed" and second["status"] == 400 and second["reason"].startswith("invalid_param")
    assert "amount_fen" not in second, "an amount that is not an integer is never guessed at"


def test_records_the_disk_cannot_take_are_kept_and_written_once_it_can(spawn, backend, tmp_path):
    """A full disk lost payment records without a word, and the line cut short was glued to the
    next one. The log here is a symlink to /dev/full (every write: ENOSPC); then it points at a
    real file and SIGUSR1 reopens it: every record is there, each line valid JSON, and stderr
    said both the failure and the recovery."""
    import os
    import signal
    log = tmp_path / "transactions.jsonl"
    os.symlink("/dev/full", log)
    s = logging_gateway(spawn, backend, log)
    for i in range(6):
        with Conn(s.port) as c:
            order = {**ORDER, "out_trade_no": f"T-FULL-{i:04d}"}
            assert c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json"},
                             json.dumps(order).encode()).status == 200
    s.proc.wait_for_output(r"sluice: transaction log: cannot write \(No space left on device\)", stream="stderr", timeout=5)
    real = tmp_path / "real.jsonl"
    os.unlink(log)
    os.symlink(real, log)
    s.proc.signal(signal.SIGUSR1)
    s.proc.wait_for_output(r"reopened transaction log", stream="stderr", timeout=5)
    deadline = time.monotonic() + 5
    while not real.exists() or len(real.read_text().splitlines()) < 6:
        assert time.monotonic() < deadline, (real.exists() and real.read_text(), s.proc.stderr())
        time.sleep(0.05)
    lines = [json.loads(line) for line in real.read_text().splitlines()]
    assert sorted(line["out_trade_no"] for line in lines) == [f"T-FULL-{i:04d}" for i in range(6)], lines
    s.proc.wait_for_output(r"sluice: transaction log: written again \(no record lost\)", stream="stderr", timeout=5)
