"""A request body over the route's max_body is refused as soon as its head says so, without
waiting for (or reading) the body, and the client gets to read the refusal."""
import time

from conftest import free_port, standard_policy
from rawhttp import Conn


def own_sluice(spawn, backend):
    # A long header timeout, so that an answer which waits for the body would show.
    port = free_port()
    return spawn.sluice(standard_policy(port, backend.port, free_port(), header_timeout="10s"), port)


def test_declared_length_over_max_body_is_413_at_once(spawn, backend):
    s = own_sluice(spawn, backend)
    before = backend.stats()["requests"]
    with Conn(s.port) as c:
        started = time.monotonic()
        c.send(b"POST /small/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\n")
        r = c.read_response(method="POST")
        elapsed = time.monotonic() - started
        assert r.status == 413, r
        assert r.header("connection") == "close"
        assert elapsed < 2.0, f"413 took {elapsed:.2f}s: it waited for the body"
        assert c.closed_by_peer(timeout=5.0), "the connection must close after the 413"
    assert backend.stats()["requests"] - before == 1  # the stats request only


def test_client_still_sending_reads_the_413(spawn, backend):
    """A client that keeps sending its too-large body still reads the 413 (no reset)."""
    s = own_sluice(spawn, backend)
    with Conn(s.port) as c:
        c.send(b"POST /small/x HTTP/1.1\r\nHost: t\r\nContent-Length: 4194304\r\n\r\n")
        chunk = b"x" * 65536
        try:
            for _ in range(64):
                c.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response(method="POST")
        assert r.status == 413, r


def test_stalled_uploads_hold_no_backend_connection_and_get_408(spawn, backend):
    """Request buffering (the default): 200 clients that declare a body and stall are answered
    408 client_body_timeout within the route's total timeout (1 s on /short/), the backend sees
    none of them, and a normal request meanwhile is served at once."""
    import concurrent.futures
    s = own_sluice(spawn, backend)
    before = backend.stats()["requests"]

    def stalled(i):
        with Conn(s.port, timeout=10) as c:
            c.send(f"POST /short/stall-{i} HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nx".encode())
            started = time.monotonic()
            r = c.read_response(method="POST")
            return r.status, r.json().get("error"), time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        futures = [pool.submit(stalled, i) for i in range(200)]
        time.sleep(0.3)
        with Conn(s.port) as c:
            started = time.monotonic()
            assert c.request("GET", "/echo/meanwhile").status == 200
            assert time.monotonic() - started < 1.0, "a normal request waited behind the stalled uploads"
        results = [f.result(timeout=15) for f in futures]
    for status, error, elapsed in results:
        assert (status, error) == (408, "client_body_timeout"), results
        assert elapsed < 3.0, results
    assert backend.stats()["requests"] - before == 2  # the normal request and the stats request
