"""Basic forwarding through sluice: curl and raw sockets, routing misses, body limits, access log."""
import json
import time

from curlclient import curl
from rawhttp import Conn


def test_get_with_curl(sluice):
    r = curl(sluice.url + "/echo/hello?x=1")
    assert r.status == 200, r
    body = r.json()
    assert body["method"] == "GET"
    assert body["path"].startswith("/echo/hello")


def test_post_payment_with_curl(sluice):
    order = json.dumps({"mchid": "1900000001", "out_trade_no": "T20260101-0001",
                        "amount": {"total": 100, "currency": "CNY"}, "description": "tea"})
    r = curl(sluice.url + "/v3/pay/transactions/jsapi", "-X", "POST",
             "-H", "Content-Type: application/json", "--data-binary", order)
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/json")
    json.loads(r.body)  # the demo backend answers JSON


def test_get_and_post_over_raw_socket(sluice):
    with Conn(sluice.port) as c:
        r = c.request("GET", "/echo/raw")
        assert r.status == 200, r
        assert r.json()["path"] == "/echo/raw"
        r = c.request("POST", "/echo/raw-post", {"Content-Type": "text/plain"}, b"hello sluice")
        assert r.status == 200, r
        seen = r.json()
        assert seen["method"] == "POST"
        assert seen["headers"].get("content-length") == "12" or \
            seen["headers"].get("transfer-encoding") == "chunked"


def test_http10_request_without_host_reaches_the_backend_with_one(sluice, backend):
    """HTTP/1.0 needs no Host (load balancers' health checks send none); the HTTP/1.1 request
    sluice sends upstream must carry one, or a strict backend answers 400 missing_host."""
    import socket
    with socket.create_connection(("127.0.0.1", sluice.port), timeout=5) as s:
        s.sendall(b"GET /echo/lb-check HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data
    seen = json.loads(body)
    assert seen["path"] == "/echo/lb-check"
    assert seen["headers"].get("host") == f"127.0.0.1:{backend.port}", seen["headers"]


def test_chunked_request_body_is_forwarded(sluice):
    body = b"5\r\nhello\r\n7\r\n sluice\r\n0\r\n\r\n"
    with Conn(sluice.port) as c:
        r = c.request("POST", "/upload", {"Transfer-Encoding": "chunked"}, body)
    assert r.status == 200, r
    assert r.json()["bytes"] == len(b"hello sluice")


def test_unmatched_route_is_404_json(sluice):
    r = curl(sluice.url + "/nowhere/at/all")
    assert r.status == 404, r
    assert r.json()["error"] == "no_route"


def test_method_not_in_route_match_is_404(sluice):
    # the pay route matches POST only
    r = curl(sluice.url + "/v3/pay/transactions/jsapi")
    assert r.status == 404, r
    assert r.json()["error"] == "no_route"


def test_body_over_max_body_is_413(sluice, backend):
    before = backend.stats()["requests"]
    r = curl(sluice.url + "/small/x", "-X", "POST", "-H", "Expect:", "--data-binary", "a" * 2048)
    assert r.status == 413, r
    # rejected at the proxy, not by the backend (+1: the stats request itself)
    assert backend.stats()["requests"] - before <= 1


def test_body_at_max_body_passes(sluice):
    r = curl(sluice.url + "/small/x", "-X", "POST", "-H", "Expect:", "--data-binary", "a" * 1024)
    assert r.status == 200, r


def test_access_log_line_per_request(sluice):
    rid = "access-log-probe-1"
    r = curl(sluice.url + "/echo/logged", "-H", f"X-Request-Id: {rid}")
    assert r.status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [e for e in sluice.access_log() if e.get("request_id") == rid]
        if lines:
            break
        time.sleep(0.1)
    assert lines, f"no access log line with request_id={rid} within 5 s:\n{sluice.proc.stdout()[-2000:]}"
    entry = lines[0]
    for key in ("time", "request_id", "route", "method", "path", "status", "upstream",
                "duration_ms", "bytes_in", "bytes_out"):
        assert key in entry, f"access log line lacks {key}: {entry}"
    assert entry["route"] == "echo"
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert entry["path"].startswith("/echo/logged")
