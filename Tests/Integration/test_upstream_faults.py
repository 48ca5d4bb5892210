"""Dead and slow upstreams: 502 and 504 with a JSON reason, in bounded time."""
import time

from curlclient import curl


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
