"""Headers sluice adds, keeps and strips, as the backend sees them (via /echo)."""
import re

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


def test_forwarded_headers_set(sluice):
    _, seen = echo(sluice)
    assert seen.get("x-forwarded-for") == "127.0.0.1"
    assert seen.get("x-forwarded-proto") == "http"
    assert "1.1 sluice" in seen.get("via", "")


def test_forwarded_for_is_appended(sluice):
    _, seen = echo(sluice, {"X-Forwarded-For": "203.0.113.7"})
    assert [p.strip() for p in seen["x-forwarded-for"].split(",")] == ["203.0.113.7", "127.0.0.1"]


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
