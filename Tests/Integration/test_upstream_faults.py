"""Dead and slow upstreams: 502 and 504 with a JSON reason, in bounded time."""
import time

from conftest import free_port, standard_policy
from curlclient import curl
from rawhttp import Conn


def test_dead_upstream_is_502(sluice):
    t0 = time.monotonic()
    r = curl(sluice.url + "/dead/anything")
    elapsed = time.monotonic() - t0
    assert r.status == 502, r
    assert r.json()["error"] == "upstream_connect_failed"
    assert elapsed < 3.0, f"a refused connect took {elapsed:.2f} s"


def test_dead_upstream_keeps_client_connection_usable(sluice):
    from rawhttp import Conn
    with Conn(sluice.port) as c:
        assert c.request("GET", "/dead/x").status == 502
        assert c.request("GET", "/echo/after-502").status == 200


def test_slow_upstream_is_504(sluice):
    # route `short` has per_try 300ms; the backend waits 1500 ms
    t0 = time.monotonic()
    r = curl(sluice.url + "/short/slow", "-H", "x-demo-delay-ms: 1500")
    elapsed = time.monotonic() - t0
    assert r.status == 504, r
    assert r.json()["error"] == "upstream_timeout"
    assert 0.25 <= elapsed < 1.4, f"504 after {elapsed:.2f} s, per_try is 300 ms"


def test_upstream_within_per_try_is_200(sluice):
    r = curl(sluice.url + "/short/fast", "-H", "x-demo-delay-ms: 50")
    assert r.status == 200, r


def test_a_204_goes_out_without_the_content_length_its_backend_sent(spawn):
    """RFC 9110 §8.6: a 204 carries no Content-Length. A backend's `204` with `Content-Length: 5`
    was relayed as such on a keep-alive connection with no body: a client trusting it would take
    5 bytes of the next response for this one's body."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                sock, _ = server.accept()
            except OSError:
                return
            with sock:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                sock.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Kind: empty\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, server.getsockname()[1], free_port()), port)
        with Conn(s.port) as c:
            for _ in range(2):
                r = c.request("GET", "/echo/empty")
                assert r.status == 204 and r.header("x-kind") == "empty", r
                assert r.header("content-length") is None and r.header("transfer-encoding") is None, r
    finally:
        server.close()
