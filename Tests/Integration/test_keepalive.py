"""Connection reuse on both sides, pipelining and Expect: 100-continue."""
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
