"""Request smuggling shapes: 400 and the connection closed, nothing forwarded."""
import time

import pytest

from rawhttp import Conn

HEAD = b"POST /echo/smuggle HTTP/1.1\r\nHost: sluice.test\r\n"

SHAPES = {
    "cl-and-te": HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "differing-duplicate-cl": HEAD + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "te-gzip-chunked": HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "obs-fold": b"GET /echo/smuggle HTTP/1.1\r\nHost: sluice.test\r\nX-Folded: a\r\n b\r\n\r\n",
    "bad-chunk-size": HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    "space-before-colon": b"GET /echo/smuggle HTTP/1.1\r\nHost: sluice.test\r\nX-Bad : y\r\n\r\n",
    "nul-in-header": b"GET /echo/smuggle HTTP/1.1\r\nHost: sluice.test\r\nX-Bad: a\x00b\r\n\r\n",
}
# Shapes that are visible in the head: sluice must reject them before talking to the backend.
# (A bad chunk size only shows up after the head may already have been forwarded.)
HEAD_SHAPES = set(SHAPES) - {"bad-chunk-size"}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_smuggling_shape_is_400_and_closed(sluice, backend, shape):
    before = backend.stats()["requests"]
    with Conn(sluice.port) as c:
        # a follow-up request on the same connection must never be answered
        c.send(SHAPES[shape] + b"GET /echo/after HTTP/1.1\r\nHost: sluice.test\r\n\r\n")
        r = c.read_response("POST")
        assert r.status == 400, r
        assert c.closed_by_peer(timeout=3.0), "connection left open after a 400"
    if shape in HEAD_SHAPES:
        forwarded = backend.stats()["requests"] - before - 1  # -1: the stats request
        assert forwarded == 0, f"{shape}: the backend saw {forwarded} request(s)"


@pytest.mark.parametrize("line,status", [(b"GET /echo/http09\r\n", 400), (b"GET /echo/v2 HTTP/2.0\r\n", 505),
                                         (b"get /echo/lower HTTP/1.1\r\n", 501)])
def test_bad_request_line_is_answered_before_the_head_ends(sluice, line, status):
    """An HTTP/0.9-style line (no version) or any other bad request line is refused as soon as
    the line is complete: the client that sends nothing more is answered at once, not after the
    header timeout, and the connection is closed."""
    with Conn(sluice.port) as c:
        started = time.monotonic()
        c.send(line)
        r = c.read_response("GET")
        assert r.status == status, r
        assert time.monotonic() - started < 0.5, "answered only after a timeout"
        assert r.header("x-request-id"), r
        assert c.closed_by_peer(timeout=3.0)


def test_a_400_to_a_client_that_is_still_sending_ends_with_a_close_not_a_reset(sluice):
    """The parser refuses the head while the client is still sending its body. Closed at once
    with its bytes unread, the socket answers with a reset, which over a real network can destroy
    the 400 before the client reads it (on loopback it arrives first, then ECONNRESET). The
    connection is closed the lingering way: write side first, the rest of the body read and
    dropped, so the client reads the 400 and then a clean end of stream."""
    import socket
    sock = socket.create_connection(("127.0.0.1", sluice.port), timeout=5)
    try:
        sock.sendall(HEAD + b"Content-Length: 300000\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            sock.sendall(b"x" * 300_000)
        except OSError:
            pass  # what matters is what comes back
        time.sleep(0.5)
        received, ending = b"", "timeout"
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                ending = "reset"
                break
            if not chunk:
                ending = "eof"
                break
            received += chunk
    finally:
        sock.close()
    assert received.startswith(b"HTTP/1.1 400 "), received[:200]
    assert ending == "eof", f"the connection ended with a {ending} after the 400"
