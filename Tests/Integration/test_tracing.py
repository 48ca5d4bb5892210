"""W3C Trace Context through the real binary: a client's trace reaches the backend with the
gateway's span as parent; a request without one gets a new trace; the access log names it."""
import re
import time

from conftest import free_port, standard_policy
from rawhttp import Conn

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_traces_are_kept_or_started_and_logged(spawn, backend):
    port = free_port()
    s = spawn.sluice(standard_policy(port, backend.port, free_port()), port)
    with Conn(s.port) as c:
        kept = c.request("GET", "/echo/traced", {"traceparent": PARENT, "tracestate": "vendor=1"}).json()["headers"]
        started = c.request("GET", "/echo/untraced").json()["headers"]
    assert re.fullmatch(r"00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01", kept["traceparent"]), kept
    assert kept["traceparent"] != PARENT, "the gateway's own span is the parent"
    assert kept["tracestate"] == "vendor=1"
    match = re.fullmatch(r"00-([0-9a-f]{32})-[0-9a-f]{16}-01", started["traceparent"])
    assert match, started
    deadline = time.monotonic() + 3
    while len([e for e in s.access_log() if e.get("path", "").startswith("/echo/")]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    logged = {e["path"]: e.get("trace_id") for e in s.access_log()}
    assert logged["/echo/traced"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert logged["/echo/untraced"] == match.group(1)
