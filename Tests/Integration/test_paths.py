"""Routing on normalised paths: every spelling of a protected path reaches the route that
protects it, the backend sees the same normal form, and shapes that backends read differently
are refused with 400 before anything is forwarded."""
import json
import time

import pytest

from conftest import free_port, standard_policy
from curlclient import curl
from rawhttp import Conn

ORDER = json.dumps({"appid": "wxd678efh567hg6787", "mchid": "1900000001", "description": "tea",
                    "out_trade_no": "T20260101-0001", "notify_url": "https://merchant.example/notify",
                    "amount": {"total": 100, "currency": "CNY"},
                    "payer": {"openid": "o4GgauInH_RCEdvrrNGrntXDu6D4"}}).encode()

CATCH_ALL = """\
  - name: catchall
    class: noncore
    match: {prefix: /}
    cluster: demo
    timeouts: {per_try: 5s, total: 10s}
    max_body: 1MiB
"""


def policy_with_catch_all(port, backend_port, duplicate_slashes=None):
    files = standard_policy(port, backend_port, free_port(), protocol="auto")
    files["routes.yaml"] += CATCH_ALL
    if duplicate_slashes:
        files["gateway.yaml"] = files["gateway.yaml"].replace(
            "drain_timeout: 5s", f"drain_timeout: 5s, duplicate_slashes: {duplicate_slashes}")
    return files


@pytest.fixture
def gateway(spawn, backend):
    port = free_port()
    return spawn.sluice(policy_with_catch_all(port, backend.port), port)


def routed(sluice, request_id):
    """The access-log route of one request (waits for the line)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for entry in sluice.access_log():
            if entry.get("request_id") == request_id:
                return entry.get("route")
        time.sleep(0.05)
    raise AssertionError(f"no access-log line for {request_id}")


# Spellings of the exact `pay` route that a raw-byte router sent to the catch-all.
PAY_SPELLINGS = [
    "/v3/pay/transactions/./jsapi",
    "/v3/pay/transactions/x/../jsapi",
    "/v3/pay/transactions/%6Asapi",
    "/v3/pay/%74ransactions/jsapi",
    "/v3//pay/transactions/jsapi",
    "/v3/pay/transactions/%2e/jsapi",
    "/./v3/pay/transactions/jsapi",
]


@pytest.mark.parametrize("path", PAY_SPELLINGS)
def test_every_spelling_of_a_route_reaches_that_route(gateway, path):
    rid = "path-" + str(abs(hash(path)))
    with Conn(gateway.port) as c:
        r = c.request("POST", path, {"Content-Type": "application/json", "X-Request-Id": rid}, ORDER)
    assert r.status == 200, r
    assert routed(gateway, rid) == "pay"


def test_backend_sees_the_normalised_path(gateway):
    with Conn(gateway.port) as c:
        r = c.request("GET", "/echo/./a/%62/../c//d?q=/./x")
    assert r.status == 200, r
    assert r.json()["target"] == "/echo/a/c/d?q=/./x"  # the query as sent


REFUSED = [
    ("/echo/a%2Fb", "encoded_slash_in_path"),
    ("/echo/a%5cb", "encoded_backslash_in_path"),
    ("/echo/a%00b", "encoded_nul_in_path"),
    ("/echo/a\\b", "backslash_in_path"),
    ("/echo/../../etc/passwd", "path_above_root"),
    ("/%2e%2e/echo", "path_above_root"),
    ("/echo-open/..;/v3/pay/transactions/jsapi", "parameters_in_path"),
    ("/echo/%2e%2e;jsessionid=1/x", "parameters_in_path"),
    ("/echo/v3/pay/transactions/jsapi;", "parameters_in_path"),
    ("/echo-open/..%3B/v3/pay/transactions/jsapi", "parameters_in_path"),
    ("/echo/v3/pay/transactions/jsapi#", "fragment_in_target"),
    ("/echo/%zz", "invalid_path_escape"),
    ("/echo/%4", "invalid_path_escape"),
]


@pytest.mark.parametrize("path,reason", REFUSED)
def test_ambiguous_paths_are_refused_before_forwarding(gateway, backend, path, reason):
    before = backend.stats()["requests"]
    with Conn(gateway.port) as c:
        r = c.request("GET", path)
        assert r.status == 400, r
        assert r.json()["error"] == reason
        # The connection lives on: the request was well-framed, only its path was refused.
        again = c.request("GET", "/echo/after")
        assert again.status == 200, again
    assert backend.stats()["requests"] - before == 2  # /echo/after and the stats request


def test_http2_paths_are_normalised_too(gateway):
    r = curl(gateway.url + "/echo/./h2/x/../y", "--http2-prior-knowledge", "--path-as-is")
    assert r.status == 200, r
    assert r.json()["path"] == "/echo/h2/y"
    r = curl(gateway.url + "/echo/../../h2", "--http2-prior-knowledge", "--path-as-is")
    assert r.status == 400, r
    assert r.json()["error"] == "path_above_root"


def test_duplicate_slashes_can_be_refused(spawn, backend):
    port = free_port()
    s = spawn.sluice(policy_with_catch_all(port, backend.port, duplicate_slashes="reject"), port)
    with Conn(s.port) as c:
        r = c.request("GET", "/echo//x")
        assert r.status == 400, r
        assert r.json()["error"] == "duplicate_slashes_in_path"
        assert c.request("GET", "/echo/x").status == 200
