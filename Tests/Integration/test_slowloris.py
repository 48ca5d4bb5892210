"""Header-read timeout: a client that sends part of a head and stops is cut off."""
import time

from rawhttp import Conn

HEADER_TIMEOUT = 1.0  # the standard policy's header_timeout


def test_partial_head_is_closed_after_header_timeout(sluice):
    with Conn(sluice.port, timeout=10) as c:
        c.send(b"GET /echo/slow HTTP/1.1\r\nHost: sluice.test\r\nX-Drip: 1")
        t0 = time.monotonic()
        data, closed = c.read_all_until_close(HEADER_TIMEOUT + 2.0)
        elapsed = time.monotonic() - t0
    assert closed, f"still open after {elapsed:.1f} s (header_timeout is {HEADER_TIMEOUT} s)"
    assert elapsed >= HEADER_TIMEOUT * 0.5, f"closed after {elapsed:.2f} s, before header_timeout"
    assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]


def test_complete_requests_still_served_meanwhile(sluice):
    with Conn(sluice.port) as slow, Conn(sluice.port) as ok:
        slow.send(b"GET /echo/slow HTTP/1.1\r\n")
        assert ok.request("GET", "/echo/ok").status == 200
