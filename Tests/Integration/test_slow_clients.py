"""Slow clients are the client's problem: a body that pauses longer than the listener's
body_timeout is answered 408 (not the route's whole total later), and a client too slow to read
its response is cut off, with the reason in the access log. Neither counts against the backend."""
import socket
import time

import pytest

from conftest import free_port, standard_policy
from rawhttp import Conn


def own_sluice(spawn, backend, listener_extra: str = ""):
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), header_timeout="10s")
    files["gateway.yaml"] = files["gateway.yaml"].replace("max_uri_bytes: 8KiB", "max_uri_bytes: 8KiB" + listener_extra)
    files["routes.yaml"] += """\
  - name: slow-download
    class: noncore
    match: {methods: [GET], path: /download}   # exact: wins over the standard prefix route
    cluster: demo
    timeouts: {per_try: 500ms, total: 60s}
    max_body: 0
  - name: streamed-upload
    class: noncore
    match: {methods: [POST], path: /echo/streamed}
    cluster: demo
    timeouts: {per_try: 5s, total: 20s}
    max_body: 1MiB
    request_buffering: false
"""
    return spawn.sluice(files, port)


@pytest.mark.parametrize("path", ["/echo/pausing", "/echo/streamed"])
def test_a_pause_in_the_body_longer_than_body_timeout_is_408(spawn, backend, path):
    """Buffered (the default) or streamed to the backend as it comes (request_buffering: false,
    where a pause was bounded only by the route's total, holding a backend connection)."""
    s = own_sluice(spawn, backend, ", body_timeout: 500ms")
    with Conn(s.port, timeout=10) as c:
        c.send(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n0123456789".encode())
        started = time.monotonic()
        r = c.read_response(method="POST")
        elapsed = time.monotonic() - started
    assert r.status == 408 and r.json()["error"] == "client_body_timeout", r
    assert 0.4 < elapsed < 3.0, f"answered after {elapsed:.2f}s: the route's total, not the 500 ms body_timeout?"


def test_a_client_that_does_not_read_is_cut_off(spawn, backend):
    s = own_sluice(spawn, backend)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", s.port))
    sock.sendall(b"GET /download?bytes=50000000 HTTP/1.1\r\nHost: t\r\nX-Request-Id: slow-reader-1\r\n\r\n")
    time.sleep(3)  # never read: sluice's writes stall, and after 500 ms without progress it gives up
    deadline = time.monotonic() + 5
    while not (lines := [e for e in s.access_log() if e.get("request_id") == "slow-reader-1"]):
        assert time.monotonic() < deadline, "no access-log line: the slow reader was never cut off"
        time.sleep(0.1)
    assert lines[0]["reason"] == "client_send_timeout", lines[0]
    # The connection is closed: draining what was buffered ends in EOF or a reset.
    closed = False
    try:
        while sock.recv(1 << 20):
            pass
        closed = True
    except (ConnectionResetError, socket.timeout):
        closed = True
    sock.close()
    assert closed


def test_a_trickling_body_slower_than_body_min_rate_is_408(spawn, backend):
    """10 bytes every 200 ms never pauses long enough for body_timeout (500 ms), but its average is
    far below body_min_rate (1KiB/s): 408 soon after the grace period, not at the route's 10 s total."""
    import threading
    s = own_sluice(spawn, backend, ", body_timeout: 500ms, body_min_rate: 1KiB/s")
    with Conn(s.port, timeout=10) as c:
        c.send(b"POST /echo/trickle HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\n")
        stop = threading.Event()

        def trickle():
            while not stop.is_set():
                try:
                    c.send(b"0123456789")
                except OSError:
                    return
                stop.wait(0.2)

        sender = threading.Thread(target=trickle, daemon=True)
        started = time.monotonic()
        sender.start()
        try:
            r = c.read_response(method="POST")
            elapsed = time.monotonic() - started
        finally:
            stop.set()
            sender.join(2)
    assert r.status == 408 and r.json()["error"] == "client_body_timeout", r
    assert 0.4 < elapsed < 2.5, f"answered after {elapsed:.2f}s"
