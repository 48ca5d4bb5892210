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


def test_headers_alone_hold_no_body_buffer_and_one_client_holds_at_most_a_quarter(spawn, backend):
    """The body phase reserved a request's declared length before any byte came: 40 connections
    sending only `POST` heads with `Content-Length: 65536` (no credentials, no body) held the
    loop's whole body buffer, and every other client's payment got 503 body_buffer_full. The
    budget is taken as bytes arrive now, and one client holds at most a quarter of it."""
    import json
    import socket
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), workers=1)
    files["gateway.yaml"] = files["gateway.yaml"].replace("drain_timeout: 5s", "drain_timeout: 5s, body_buffer_per_loop: 1MiB")
    files["routes.yaml"] = files["routes.yaml"].replace(
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n",
        "    match: {methods: [POST], path: /v3/pay/transactions/jsapi}\n    cluster: demo\n    validation: order\n")
    files["validations.yaml"] = "validations:\n  - {name: order, fields: {amount.total: {type: integer, min: 1}}}\n"
    s = spawn.sluice(files, port)
    order = json.dumps({"mchid": "1900000001", "out_trade_no": "T-BUDGET-1", "amount": {"total": 1}}).encode()

    def pay(source="127.0.0.1"):
        with socket.create_connection(("127.0.0.1", s.port), timeout=10, source_address=(source, 0)) as sock:
            sock.sendall(b"POST /v3/pay/transactions/jsapi HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(order), order))
            return sock.recv(65536).split(b" ", 2)[1]

    heads = []
    try:
        for _ in range(40):  # 40 x 64 KiB declared: 2.5 MiB against a 1 MiB buffer
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            sock.sendall(b"POST /v3/pay/transactions/jsapi HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 65536\r\n\r\n")
            heads.append(sock)
        time.sleep(0.3)
        assert [pay("127.0.0.2") for _ in range(3)] == [b"200"] * 3, "another client's orders while the heads wait"
        # One client's own bodies: at most a quarter (256 KiB) at once; five 64 KiB bodies half
        # sent hold 320 KiB' worth: the fifth is refused, the other client is not.
        partial = []
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10, source_address=("127.0.0.3", 0))
            sock.sendall(b"POST /v3/pay/transactions/jsapi HTTP/1.1\r\nHost: g\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 65536\r\n\r\n" + b" " * 60000)
            partial.append(sock)
            time.sleep(0.05)
        partial[-1].settimeout(5)
        assert b"503" in partial[-1].recv(65536).split(b"\r\n")[0], "the fifth passes the client's quarter"
        assert pay("127.0.0.2") == b"200"
        for sock in partial:
            sock.close()
    finally:
        for sock in heads:
            sock.close()
