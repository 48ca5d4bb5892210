"""Headers sluice adds, keeps and strips, as the backend sees them (via /echo)."""
import json
import re
import time

from conftest import free_port, standard_policy
from h2wire import H2Wire
from rawhttp import Conn


def echo(sluice, headers=None):
    with Conn(sluice.port) as c:
        r = c.request("GET", "/echo/headers", headers or {})
    assert r.status == 200, r
    return r, r.json()["headers"]


def test_request_id_generated_when_absent(sluice):
    r, seen = echo(sluice)
    rid = r.header("x-request-id")
    assert rid and re.fullmatch(r"[\x21-\x7e]{8,200}", rid), r
    assert seen.get("x-request-id") == rid


def test_request_ids_are_unique(sluice):
    ids = {echo(sluice)[0].header("x-request-id") for _ in range(5)}
    assert len(ids) == 5


def test_request_id_kept_when_sent(sluice):
    r, seen = echo(sluice, {"X-Request-Id": "client-chosen-42"})
    assert r.header("x-request-id") == "client-chosen-42"
    assert seen.get("x-request-id") == "client-chosen-42"


def test_a_refused_request_id_is_not_forwarded_beside_ours(sluice):
    """An id the gateway will not use (spaces, quotes) is replaced for the client, the log and the
    backend alike; the backend gets exactly one id, the one the client was given."""
    with Conn(sluice.port) as c:
        c.send(b'GET /echo/headers HTTP/1.1\r\nHost: x\r\nX-Request-Id: a b "c"\r\nX-Request-Id: second\r\n\r\n')
        r = c.read_response()
    assert r.status == 200, r
    pairs = json.loads(r.body, object_pairs_hook=list)
    seen = [v for k, v in dict(pairs)["headers"] if k == "x-request-id"]
    assert seen == [r.header("x-request-id")], (seen, r.header("x-request-id"))


def test_forwarded_headers_set(sluice):
    _, seen = echo(sluice)
    assert seen.get("x-forwarded-for") == "127.0.0.1"
    assert seen.get("x-forwarded-proto") == "http"
    assert "1.1 sluice" in seen.get("via", "")


def test_forwarded_for_from_an_untrusted_client_is_replaced(sluice):
    """The standard policy trusts no proxy: a client's own X-Forwarded-For, Forwarded and
    X-Real-IP never reach the backend, which sees the socket peer only."""
    _, seen = echo(sluice, {"X-Forwarded-For": "6.6.6.6", "Forwarded": "for=6.6.6.6", "X-Real-IP": "6.6.6.6"})
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert "forwarded" not in seen and "x-real-ip" not in seen


def test_no_client_field_stands_in_for_one_the_gateway_sets(sluice):
    """X-Forwarded-Host, the underscore spellings CGI/WSGI/PHP backends read as the gateway's
    fields (X_Forwarded_For is HTTP_X_FORWARDED_FOR to them), and fields a client names in
    Connection to have the gateway's own removed on the way out."""
    _, seen = echo(sluice, {"X-Forwarded-Host": "evil.example", "X_Forwarded_For": "6.6.6.6", "X_Real_IP": "6.6.6.6",
                            "X_Request_Id": "6.6.6.6", "X-Forwarded_Proto": "https", "X.Forwarded.For": "6.6.6.6",
                            "X+Sluice~Merchant": "1900000666",
                            "Connection": "keep-alive, x-forwarded-for, x-request-id, via"})
    normalised = {re.sub(r"[^a-z0-9]", "-", k.lower()): v for k, v in seen.items()}
    assert "x-forwarded-host" not in normalised, seen
    assert normalised["x-forwarded-for"] == "127.0.0.1" and seen["x-forwarded-for"] == "127.0.0.1", seen
    assert normalised["x-forwarded-proto"] == "http" and normalised["x-request-id"] == seen["x-request-id"], seen
    assert "6.6.6.6" not in json.dumps(seen) and "1.1 sluice" in seen.get("via", ""), seen
    assert "x-sluice-merchant" not in normalised, seen


def test_forwarded_for_from_a_trusted_proxy_is_extended_and_names_the_client(spawn, backend):
    """With `trusted_proxies`, the chain a trusted peer sent is extended, and the client (for
    limits and the access log) is its rightmost untrusted hop."""
    from conftest import free_port, standard_policy
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["gateway.yaml"] = files["gateway.yaml"].replace("max_uri_bytes: 8KiB", "max_uri_bytes: 8KiB, trusted_proxies: [127.0.0.0/8]")
    s = spawn.sluice(files, port)
    _, seen = echo(s, {"X-Forwarded-For": "203.0.113.7, 10.9.8.7", "X-Request-Id": "trusted-chain-1"})
    assert [p.strip() for p in seen["x-forwarded-for"].split(",")] == ["203.0.113.7", "10.9.8.7", "127.0.0.1"]
    deadline = time.monotonic() + 3
    while not (lines := [e for e in s.access_log() if e.get("request_id") == "trusted-chain-1"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert lines[0]["client"] == "10.9.8.7", "the rightmost hop that is not a trusted proxy is the client"


def test_hop_by_hop_headers_do_not_reach_upstream(sluice):
    _, seen = echo(sluice, [
        ("Connection", "keep-alive, X-Secret-Hop"),
        ("X-Secret-Hop", "must-not-pass"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "example/1"),
        ("X-Ordinary", "passes"),
    ])
    for name in ("x-secret-hop", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"):
        assert name not in seen, f"{name} reached the upstream: {seen}"
    # sluice may send its own Connection header upstream, but never the client's tokens
    assert "x-secret-hop" not in seen.get("connection", "").lower()
    assert seen.get("x-ordinary") == "passes"


def test_proxy_protocol_from_a_trusted_balancer_names_the_client(spawn, backend):
    """PROXY protocol v1 and v2 from 127.0.0.1 (listed in proxy_protocol.from) set the client for
    the access log and X-Forwarded-For; a connection from there without a header is closed; from
    another source (127.0.0.2) a PROXY header is just bad input (refused), never believed."""
    import socket
    import struct
    from conftest import free_port, standard_policy
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    files["gateway.yaml"] = files["gateway.yaml"].replace(
        "max_uri_bytes: 8KiB", "max_uri_bytes: 8KiB, proxy_protocol: {from: [127.0.0.1], timeout: 1s}")
    s = spawn.sluice(files, port)

    def exchange(prefix: bytes, rid: str, source: str = "127.0.0.1") -> bytes:
        with socket.socket() as sock:
            sock.settimeout(5)
            sock.bind((source, 0))
            sock.connect(("127.0.0.1", s.port))
            sock.sendall(prefix + f"GET /echo/proxied HTTP/1.1\r\nHost: t\r\nX-Request-Id: {rid}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            try:
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
            return data

    v1 = exchange(b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n", "proxy-v1")
    assert v1.startswith(b"HTTP/1.1 200"), v1[:200]
    assert b'"x-forwarded-for":"203.0.113.7"' in v1
    v2 = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", 12) + bytes([198, 51, 100, 9, 10, 0, 0, 1]) + struct.pack("!HH", 1, 443)
    out = exchange(v2, "proxy-v2")
    assert out.startswith(b"HTTP/1.1 200") and b'"x-forwarded-for":"198.51.100.9"' in out, out[:300]
    assert exchange(b"", "proxy-missing") == b"", "a trusted balancer's connection without a header is closed"
    untrusted = exchange(b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n", "proxy-untrusted", source="127.0.0.2")
    # Read as HTTP, "PROXY" is a method sluice does not implement: 501 and closed, never believed.
    assert untrusted.startswith(b"HTTP/1.1 501") and b"203.0.113.7" not in untrusted, untrusted[:200]
    deadline = time.monotonic() + 3
    while len(lines := {e["request_id"]: e for e in s.access_log() if e.get("request_id", "").startswith("proxy-v")}) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert lines["proxy-v1"]["client"] == "203.0.113.7" and lines["proxy-v2"]["client"] == "198.51.100.9"


TRAILERS = "grpc-status=0, grpc-message=ok, set-cookie=sid=1, content-length=99"


def test_response_trailers_reach_http11_and_http2_clients(spawn, backend):
    """A backend's chunked trailer fields (what gRPC-style services put their status in) reach
    the client: after the last chunk over HTTP/1.1, as a final HEADERS frame over HTTP/2. Fields
    that must never come late (set-cookie, content-length: RFC 9110 §6.5.1) are dropped."""
    port = free_port()
    s = spawn.sluice(standard_policy(port, backend.port, free_port(), protocol="auto"), port)
    with Conn(port) as c:
        c.send(b"GET /echo/trailers HTTP/1.1\r\nHost: sluice.test\r\nTE: trailers\r\nX-Demo-Trailers: " + TRAILERS.encode() + b"\r\n\r\n")
        r = c.read_response("GET")
        assert r.status == 200 and r.header("transfer-encoding") == "chunked", r
        assert json.loads(r.body)["path"] == "/echo/trailers"
        assert r.trailers == [("grpc-status", "0"), ("grpc-message", "ok")], r.trailers
        # The connection is still good for the next request.
        c.send(b"GET /echo/next HTTP/1.1\r\nHost: sluice.test\r\n\r\n")
        assert c.read_response("GET").status == 200

    h2 = H2Wire(port)
    stream = h2.response(h2.request("GET", "/echo/trailers-h2", [("te", "trailers"), ("x-demo-trailers", TRAILERS)]))
    assert stream.status == 200 and stream.ended and stream.reset is None, stream
    assert json.loads(bytes(stream.body))["path"] == "/echo/trailers-h2"
    assert stream.trailers == [("grpc-status", "0"), ("grpc-message", "ok")], stream.trailers
    h2.close()


def test_an_absolute_form_target_is_served_with_its_authority_as_host(sluice):
    """RFC 9112 §3.2.2: a server MUST accept `GET http://host/path`; the backend gets the origin
    form and the URI's host (the Host field is ignored). A Host value that names no host is 400."""
    with Conn(sluice.port) as c:
        c.send(b"GET http://pay.example/echo/abs?x=1 HTTP/1.1\r\nHost: elsewhere.example\r\n\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert r.json()["target"] == "/echo/abs?x=1" and r.json()["headers"]["host"] == "pay.example", r.json()
        c.send(b"GET /echo/h HTTP/1.1\r\nHost: evil/../x@y\r\n\r\n")
        bad = c.read_response()
    assert bad.status == 400 and bad.json()["error"] == "invalid_host", bad


def test_a_repeated_content_type_is_refused(sluice):
    """The gateway reads a body by one Content-Type (validation, signatures); a backend given two
    may read it by the other: a signed JSON order whose description is also a form naming another
    merchant and amount. Like a repeated Host: 400, nothing forwarded."""
    order = b'{"mchid":"1900000001","description":"x&mchid=1900000002&amount_total=99999999&z="}'
    with Conn(sluice.port) as c:
        r = c.request("POST", "/echo/order", [("Content-Type", "application/json"),
                                              ("Content-Type", "application/x-www-form-urlencoded")], body=order)
    assert r.status == 400 and r.json()["error"] == "duplicate_content_type", r
    with Conn(sluice.port) as c:
        r = c.request("POST", "/echo/order", [("Content-Type", "application/json")], body=order)
    assert r.status == 200 and r.json()["headers"]["content-type"] == "application/json", r
