"""Connection reuse on both sides, pipelining and Expect: 100-continue."""
import time

from conftest import free_port, standard_policy
from curlclient import curl
from rawhttp import Conn, build_request


def test_keepalive_reuse_on_both_sides(sluice, backend):
    with Conn(sluice.port) as c:
        c.request("GET", "/echo/warm-up")  # lets the pool hold a connection already
        before = backend.stats()
        for i in range(30):
            r = c.request("GET", f"/echo/ka/{i}")
            assert r.status == 200, r
            assert (r.header("connection") or "").lower() != "close", r
            assert r.json()["path"] == f"/echo/ka/{i}"
        after = backend.stats()
    # minus the stats request's own connection
    new_upstream = after["connections_accepted"] - before["connections_accepted"] - 1
    assert new_upstream <= 2, f"backend accepted {new_upstream} connections for 30 requests"
    assert after["requests"] - before["requests"] >= 30


def test_pipelined_requests_answered_in_order(sluice):
    with Conn(sluice.port) as c:
        c.send(b"".join(build_request("GET", f"/echo/pipe/{i}") for i in (1, 2, 3)))
        paths = [c.read_response().json()["path"] for _ in range(3)]
        assert paths == ["/echo/pipe/1", "/echo/pipe/2", "/echo/pipe/3"]
        # the connection is still usable afterwards
        assert c.request("GET", "/echo/pipe/4").status == 200


def test_pipelined_post_and_get(sluice):
    with Conn(sluice.port) as c:
        c.send(build_request("POST", "/echo/p1", {}, b"x" * 100) +
               build_request("GET", "/echo/p2") +
               build_request("POST", "/echo/p3", {}, b"y" * 10))
        got = [c.read_response().json() for _ in range(3)]
    assert [(g["method"], g["path"]) for g in got] == \
        [("POST", "/echo/p1"), ("GET", "/echo/p2"), ("POST", "/echo/p3")]


def test_expect_100_continue_with_curl(sluice):
    r = curl(sluice.url + "/echo/expect", "-X", "POST", "-H", "Expect: 100-continue",
             "--expect100-timeout", "5", "--data-binary", "z" * 2048)
    assert "HTTP/1.1 100 Continue" in r.verbose, r.verbose
    assert r.status == 200


def test_expect_100_continue_raw(sluice):
    """The client waits for the 100 before sending the body, as a strict client does."""
    body = b"q" * 4096
    with Conn(sluice.port) as c:
        c.send(build_request("POST", "/echo/expect-raw",
                             {"Expect": "100-continue", "Content-Length": str(len(body))}))
        interim = c.read_response(allow_interim=True)
        assert interim.status == 100, interim
        c.send(body)
        r = c.read_response("POST")
        assert r.status == 200, r
        assert r.json()["method"] == "POST"


def _burst(port: int, count: int) -> list[int]:
    """`count` requests at once, each on its own client connection, each held 60 ms upstream."""
    import concurrent.futures

    def one(i: int) -> int:
        with Conn(port) as c:
            return c.request("GET", f"/echo/burst/{i}", headers=[("x-demo-delay-ms", "60")]).status

    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_bursts_above_max_idle_reuse_connections_and_the_excess_is_closed_later(spawn):
    """max_idle_per_endpoint 2, bursts of 12 concurrent requests: the connections of one burst
    serve the next (no close-and-reopen per burst); after a quiet second the excess above the
    limit is closed when the pool is next used."""
    backend = spawn.backend()
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), workers=1)
    files["clusters.yaml"] = files["clusters.yaml"].replace("max_idle_per_endpoint: 64", "max_idle_per_endpoint: 2")
    sluice = spawn.sluice(files, port)
    assert _burst(port, 12) == [200] * 12
    first = backend.stats()["connections_accepted"]
    for _ in range(4):
        assert _burst(port, 12) == [200] * 12
    stats = backend.stats()
    # Each stats call opens one connection of its own.
    reopened = stats["connections_accepted"] - first - 1
    assert reopened <= 6, f"{reopened} new upstream connections for 4 more bursts of 12 (the first opened {first - 1})"
    time.sleep(1.3)
    with Conn(port) as c:
        assert c.request("GET", "/echo/after-quiet").status == 200
    # The excess is gone: sluice keeps the limit's 2 (the stats call's own connection is the 3rd).
    # The backend counts a connection closed once it has read the end, a moment later.
    deadline = time.time() + 3
    while backend.stats()["connections_open"] > 3 and time.time() < deadline:
        time.sleep(0.05)
    assert backend.stats()["connections_open"] <= 3, backend.stats()


def test_idle_upstream_connections_close_at_the_idle_timeout_without_traffic(spawn):
    """The cluster's idle_timeout closes idle upstream connections even when no request comes to
    take one: a quiet gateway does not hold the backend's sockets for ever."""
    backend = spawn.backend()
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), workers=1)
    files["clusters.yaml"] = files["clusters.yaml"].replace(
        "max_idle_per_endpoint: 64, idle_timeout: 60s", "max_idle_per_endpoint: 64, idle_timeout: 1s")
    spawn.sluice(files, port)
    assert _burst(port, 6) == [200] * 6
    # 6 idle upstream connections, and the stats call's own.
    assert backend.stats()["connections_open"] >= 6, backend.stats()
    deadline = time.time() + 4
    while backend.stats()["connections_open"] > 1 and time.time() < deadline:
        time.sleep(0.1)
    assert backend.stats()["connections_open"] == 1, backend.stats()


def test_keep_alive_connection_idle_past_a_second_is_served_and_still_times_out(spawn):
    """After 100 ms idle between requests an HTTP/1.1 session's task ends and the connection
    waits with none (its request stack freed), then continues in a fresh task; the client sees
    nothing of it: later requests are answered on the same connection, and the idle timeout
    counts from the last answer as before."""
    backend = spawn.backend()
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), workers=1)
    files["gateway.yaml"] = files["gateway.yaml"].replace("idle_timeout: 60s", "idle_timeout: 3s")
    spawn.sluice(files, port)
    with Conn(port) as c:
        for i, pause in enumerate([0, 1.5, 1.3, 2.2]):
            time.sleep(pause)
            r = c.request("GET", f"/echo/idle/{i}")
            assert r.status == 200 and r.json()["path"] == f"/echo/idle/{i}", (i, r)
        answered = time.time()
        c.sock.settimeout(6)
        assert c.sock.recv(1) == b"", "sluice closes the idle connection"
        waited = time.time() - answered
    assert 2.5 <= waited <= 4.0, f"closed {waited:.2f} s after the last answer (idle_timeout 3s)"


def test_a_parked_connection_woken_by_part_of_a_head_reads_the_rest_or_times_out(spawn):
    """The first bytes after a park wake the connection; the rest of the head may come later
    (read in the new task, the header timeout counting from the first byte): a head in two
    halves 0.3 s apart is answered; a head left unfinished gets 408 after header_timeout (1 s),
    not the idle timeout (60 s)."""
    backend = spawn.backend()
    port = free_port()
    spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
    with Conn(port) as c:
        assert c.request("GET", "/echo/first").status == 200
        time.sleep(0.5)  # parked
        head = b"GET /echo/halves HTTP/1.1\r\nHost: gateway.test\r\n\r\n"
        c.send(head[:12])
        time.sleep(0.3)
        c.send(head[12:])
        r = c.read_response()
        assert r.status == 200 and r.json()["path"] == "/echo/halves", r
        time.sleep(1.2)  # parked again (after a 0.5 s gap the connection waits up to 1 s before parking)
        c.send(b"GET /echo/never-finished HTTP/1.1\r\nHo")
        sent = time.time()
        c.sock.settimeout(5)
        r = c.read_response()
        waited = time.time() - sent
    assert r.status == 408, r
    assert 0.8 <= waited <= 2.5, f"408 {waited:.2f} s after the first bytes (header_timeout 1s)"
