"""HTTP/2 to upstreams (cluster `protocol: h2`): the demo backend answers h2c with prior knowledge
on its usual port. Requests from HTTP/1.1 and HTTP/2 clients are multiplexed onto few upstream
connections, with the same routes, headers, bodies, trailers, timeouts and failure answers as
HTTP/1.1 upstreams."""
from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import time

from conftest import REPO, Proc, free_port, start_backend, start_sluice, write_policy
from curlclient import curl
from h2wire import H2Wire
from rawhttp import Conn

MAKE_CERTS = REPO / "Tests" / "Support" / "make-test-certs.sh"


def h2_policy(port: int, backend_port: int, dead_port: int, extra_cluster: str = "") -> dict[str, str]:
    return {"gateway.yaml": f"""\
server: {{workers: 1, access_log: stdout}}
listeners:
  - {{name: public, address: 127.0.0.1:{port}, protocol: auto}}
clusters:
  - {{name: h2, protocol: h2, endpoints: [127.0.0.1:{backend_port}]{extra_cluster}}}
  - {{name: dead, protocol: h2, endpoints: [127.0.0.1:{dead_port}], connect_timeout: 500ms}}
routes:
  - {{name: echo, class: noncore, match: {{prefix: /echo}}, cluster: h2, timeouts: {{per_try: 1s, total: 2s}}, max_body: 1MiB}}
  - {{name: upload, class: noncore, match: {{path: /upload}}, cluster: h2, max_body: 64MiB, request_buffering: false}}
  - {{name: download, class: noncore, match: {{prefix: /download}}, cluster: h2}}
  - {{name: dead, class: noncore, match: {{prefix: /dead}}, cluster: dead}}
"""}


def test_requests_reach_an_h2_backend_with_their_headers_and_bodies(spawn, tmp_path):
    backend = spawn.backend()
    port = free_port()
    s = spawn.sluice(h2_policy(port, backend.port, free_port()), port)
    with Conn(port) as c:
        r = c.request("GET", "/echo/h2?x=1", headers=[("Host", "pay.example"), ("X-Merchant", "1900000001"), ("Connection", "keep-alive")])
        assert r.status == 200, r
        seen = r.json()
        assert seen["version"] == "HTTP/2", seen
        assert seen["target"] == "/echo/h2?x=1"
        assert seen["headers"]["host"] == "pay.example", seen["headers"]
        assert seen["headers"]["x-merchant"] == "1900000001"
        assert seen["headers"]["x-request-id"] == r.header("x-request-id")
        assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
        assert "connection" not in seen["headers"] and "keep-alive" not in seen["headers"]
        body = json.dumps({"amount": {"total": 100}}).encode()
        r = c.request("POST", "/echo/pay", headers=[("Host", "pay.example"), ("Content-Type", "application/json")], body=body)
        assert r.status == 200 and r.json()["body_bytes"] == len(body), r

    # A large upload streams (no request buffering) and a large download comes back whole.
    data = os.urandom(3 * 1024 * 1024)
    path = tmp_path / "up.bin"
    path.write_bytes(data)
    up = curl(f"{s.url}/upload", "--data-binary", f"@{path}", "-H", "Content-Type: application/octet-stream")
    assert up.status == 200 and up.json()["bytes"] == len(data), up.body[-500:]
    down = curl(f"{s.url}/download?bytes={5 * 1024 * 1024}", "-o", "/dev/null", "-w", "%{size_download}")
    assert down.status == 200 and down.body.decode().strip() == str(5 * 1024 * 1024), down.body[-200:]


def test_many_concurrent_requests_share_few_upstream_connections(spawn):
    backend = spawn.backend()
    port = free_port()
    spawn.sluice(h2_policy(port, backend.port, free_port()), port)
    before = backend.stats()["connections_accepted"]

    def one(i: int) -> int:
        with Conn(port) as c:
            return c.request("GET", f"/echo/c/{i}", headers=[("Host", "x"), ("X-Demo-Delay-Ms", "200")]).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, range(50)))
    assert statuses == [200] * 50
    opened = backend.stats()["connections_accepted"] - before - 1  # -1: the stats request
    assert 1 <= opened <= 2, f"50 concurrent requests opened {opened} upstream connections"


def test_trailers_and_http2_clients_end_to_end(spawn):
    backend = spawn.backend()
    port = free_port()
    spawn.sluice(h2_policy(port, backend.port, free_port()), port)
    h2 = H2Wire(port)
    r = h2.response(h2.request("POST", "/echo/rpc", [("te", "trailers"), ("x-demo-trailers", "grpc-status=0, grpc-message=ok")],
                               body=b"\x00\x00\x00\x00\x02hi"))
    assert r.status == 200 and r.ended and r.reset is None, r
    assert json.loads(bytes(r.body))["headers"]["te"] == "trailers", "gRPC backends insist on TE: trailers"
    assert r.trailers == [("grpc-status", "0"), ("grpc-message", "ok")], r.trailers
    h2.close()


def test_upstream_failures_answer_like_http1_upstreams(spawn):
    backend = spawn.backend()
    port = free_port()
    s = spawn.sluice(h2_policy(port, backend.port, free_port()), port)
    with Conn(port) as c:
        dead = c.request("GET", "/dead/x", headers=[("Host", "x")])
        assert dead.status == 502 and dead.json()["error"] == "upstream_connect_failed", dead
    with Conn(port) as c:
        slow = c.request("GET", "/echo/slow", headers=[("Host", "x"), ("X-Demo-Delay-Ms", "1500")])
        assert slow.status == 504 and slow.json()["error"] == "upstream_timeout", slow
    # The timed-out stream was cancelled, not the connection: the next request is served on it.
    with Conn(port) as c:
        assert c.request("GET", "/echo/after", headers=[("Host", "x")]).status == 200
    deadline = time.monotonic() + 3  # the access log is written in batches
    while time.monotonic() < deadline:
        reasons = [line.get("reason") for line in s.access_log()]
        if "upstream_connect_failed" in reasons and "upstream_timeout" in reasons:
            break
        time.sleep(0.05)
    assert "upstream_connect_failed" in reasons and "upstream_timeout" in reasons, reasons


def test_backend_restart_is_survived(spawn, tmp_path):
    """The upstream connection dies with its backend; the next request opens a new one."""
    backend = spawn.backend()
    port = free_port()
    spawn.sluice(h2_policy(port, backend.port, free_port()), port)
    with Conn(port) as c:
        assert c.request("GET", "/echo/1", headers=[("Host", "x")]).status == 200
    backend.proc.stop()
    with Conn(port) as c:
        assert c.request("GET", "/echo/down", headers=[("Host", "x")]).status == 502
    again = start_backend(tmp_path / "logs", port=backend.port)
    try:
        with Conn(port) as c:
            r = c.request("GET", "/echo/2", headers=[("Host", "x")])
            assert r.status == 200 and r.json()["version"] == "HTTP/2", r
    finally:
        again.proc.stop()


def test_h2_over_tls_to_nghttpd_with_alpn(spawn, tmp_path):
    """Another implementation as the upstream: Debian's nghttpd serving a file over TLS; Sluice
    verifies its certificate, offers ALPN h2 and multiplexes on the one connection. An HTTP/1.1
    client gets the file. Active health checks reach the h2-only server over HTTP/2."""
    nghttpd = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
    assert os.access(nghttpd, os.X_OK), "nghttpd not installed (make deps installs Debian's nghttp2-server)"
    certs = tmp_path / "certs"
    subprocess.run(["/bin/sh", str(MAKE_CERTS), str(certs)], check=True, timeout=60)
    docroot = tmp_path / "www"
    docroot.mkdir()
    (docroot / "hello.txt").write_bytes(b"hello over h2 and TLS\n" * 1000)
    upstream_port = free_port()
    server = Proc("nghttpd", [nghttpd, "-d", str(docroot), "-a", "127.0.0.1", str(upstream_port),
                              str(certs / "gateway.key"), str(certs / "gateway.pem")], tmp_path / "logs")
    try:
        wait_for_port(upstream_port)
        port = free_port()
        files = {"gateway.yaml": f"""\
server: {{workers: 1, access_log: off}}
listeners:
  - {{name: public, address: 127.0.0.1:{port}, protocol: http1}}
clusters:
  - {{name: files, protocol: h2, endpoints: [127.0.0.1:{upstream_port}], tls: {{ca: certs/ca.pem, sni: gateway.test}}}}
  - name: checked
    protocol: h2
    endpoints: [127.0.0.1:{upstream_port}, 127.0.0.1:{free_port()}]
    tls: {{ca: certs/ca.pem, sni: gateway.test}}
    health_check: {{path: /hello.txt, interval: 200ms, timeout: 200ms, healthy: 1, unhealthy: 1}}
routes:
  - {{name: checked, class: noncore, match: {{prefix: /checked/}}, cluster: checked}}
  - {{name: files, class: noncore, match: {{prefix: /}}, cluster: files}}
"""}
        policy = write_policy(tmp_path / "policy", files)
        shutil.copytree(certs, policy / "certs")
        s = start_sluice(policy, port, tmp_path / "sluice-logs")
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
                bodies = list(pool.map(lambda _: Conn(port).request("GET", "/hello.txt", headers=[("Host", "gateway.test")]), range(8)))
            for r in bodies:
                assert r.status == 200 and r.body == b"hello over h2 and TLS\n" * 1000, r
            # Health checks speak HTTP/2 to an h2 cluster (nghttpd has no HTTP/1.1): the live
            # endpoint passes, the dead one is taken out, so every request finds the live one.
            time.sleep(0.8)
            statuses = [Conn(port).request("GET", "/checked/x", headers=[("Host", "gateway.test")]).status for _ in range(10)]
            assert statuses == [404] * 10, f"nghttpd answers 404 for /checked/x; a 502 means the dead endpoint got traffic: {statuses}"
        finally:
            s.proc.stop()
    finally:
        server.stop()


def wait_for_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def established_to(port: int) -> int:
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"], capture_output=True, text=True).stdout
    return len([line for line in out.splitlines() if line.strip()])


def test_a_reload_that_changes_the_cluster_lets_streams_finish_then_closes_their_connection(spawn):
    """The pool of a changed cluster is dropped on reload: its HTTP/2 connection finishes the
    stream in flight (200), then closes, instead of idling on with nobody to reap it."""
    import signal
    backend = spawn.backend()
    port = free_port()
    s = spawn.sluice(h2_policy(port, backend.port, free_port()), port)
    with Conn(port) as c:
        assert c.request("GET", "/echo/warm", headers=[("Host", "x")]).status == 200
    assert established_to(backend.port) == 1
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(lambda: Conn(port).request("GET", "/echo/slow", headers=[("Host", "x"), ("X-Demo-Delay-Ms", "600")]))
        time.sleep(0.2)
        gateway = s.policy_dir / "gateway.yaml"
        gateway.write_text(gateway.read_text().replace("protocol: h2, endpoints: [127.0.0.1:" + str(backend.port) + "]",
                                                       "protocol: h2, max_idle_per_endpoint: 8, endpoints: [127.0.0.1:" + str(backend.port) + "]"))
        s.proc.signal(signal.SIGHUP)
        s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5)
        assert slow.result(timeout=5).status == 200, "the stream in flight finishes on the retired connection"
    deadline = time.monotonic() + 3
    while established_to(backend.port) != 0:
        assert time.monotonic() < deadline, "the retired upstream connection stayed open"
        time.sleep(0.05)
    with Conn(port) as c:
        assert c.request("GET", "/echo/after", headers=[("Host", "x")]).status == 200


def test_backend_killed_or_client_gone_mid_response_leaves_sluice_serving(spawn, tmp_path):
    """Mid-stream failures on a multiplexed upstream connection: the client that walks away
    mid-download cancels only its stream; the backend killed mid-download cuts that response off
    (never a truncated success), and sluice keeps serving once the backend is back."""
    import socket as socketlib
    backend = spawn.backend()
    port = free_port()
    s = spawn.sluice(h2_policy(port, backend.port, free_port()), port)
    # A client that reads the head and a little of a 20 MiB body, then closes.
    with socketlib.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET /download?bytes=20971520 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert raw.recv(65536).startswith(b"HTTP/1.1 200")
    with Conn(port) as c:
        assert c.request("GET", "/echo/after-client-gone", headers=[("Host", "x")]).status == 200

    # The backend killed while a download streams.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        download = pool.submit(subprocess.run, ["curl", "-sS", "--max-time", "10", "--limit-rate", "10M", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                                                f"{s.url}/download?bytes=104857600"], capture_output=True, text=True)
        time.sleep(0.5)  # the download (10 MB/s for 100 MiB) is under way
        backend.proc.stop()
        result = download.result(timeout=15)
    assert result.returncode != 0, f"a cut-off download must not look complete: {result.stdout} {result.stderr}"
    assert s.proc.alive(), s.proc.describe()
    again = start_backend(tmp_path / "logs2", port=backend.port)
    try:
        with Conn(port) as c:
            assert c.request("GET", "/echo/back", headers=[("Host", "x")]).status == 200
    finally:
        again.proc.stop()


class ScriptedH2Backend:
    """An h2c (prior knowledge) backend that refuses (REFUSED_STREAM) the first stream of each
    path holding `refuse-once` and every stream of a path holding `refuse-always`, stops reading
    and answering a connection that brings a path holding `wedge` (the socket stays open), and
    otherwise answers with how many body bytes it read (after 0.8 s for a path holding `slow`). It
    records every request it processed and counts the connections it accepted; `max_streams`
    is the SETTINGS_MAX_CONCURRENT_STREAMS it advertises."""

    def __init__(self, max_streams: int | None = None):
        import h2.config
        import h2.connection
        import h2.errors
        import h2.events
        import threading
        self.h2 = (h2.config, h2.connection, h2.errors, h2.events)
        self.processed: list[tuple[str, int]] = []
        self.refused: list[str] = []
        self.max_streams = max_streams
        self.accepted = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock):
        config, connection, errors, events = self.h2
        conn = connection.H2Connection(config.H2Configuration(client_side=False))
        conn.initiate_connection()
        if self.max_streams is not None:
            import h2.settings
            conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.max_streams})
        sock.sendall(conn.data_to_send())
        streams: dict[int, list] = {}
        sock.settimeout(10)
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, events.RequestReceived):
                    streams[event.stream_id] = [dict(event.headers)[b":path"].decode(), 0]
                elif isinstance(event, events.DataReceived):
                    streams[event.stream_id][1] += len(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, events.StreamEnded):
                    path, length = streams[event.stream_id]
                    if "wedge" in path:
                        time.sleep(30)  # the connection is stuck: nothing read or answered
                        return
                    if "refuse-always" in path or ("refuse-once" in path and path not in self.refused):
                        self.refused.append(path)
                        conn.reset_stream(event.stream_id, errors.ErrorCodes.REFUSED_STREAM)
                    else:
                        if "slow" in path:
                            time.sleep(0.8)
                        self.processed.append((path, length))
                        body = json.dumps({"bytes": length}).encode()
                        conn.send_headers(event.stream_id, [(":status", "200"), ("content-length", str(len(body)))])
                        conn.send_data(event.stream_id, body, end_stream=True)
            sock.sendall(conn.data_to_send())

    def close(self):
        self.server.close()


def test_a_refused_stream_is_retried_with_its_body_and_frees_its_idempotency_key(spawn, redis):
    """REFUSED_STREAM means not processed (RFC 9113 §8.7): the retry carries the same body (it
    went out without one: an empty POST ran upstream), and with no retry left the request counts
    as never sent, so the client's retry with the same idempotency key goes through (it got 409
    outcome_unknown: a payment that never ran, blocked)."""
    backend = ScriptedH2Backend()
    try:
        port = free_port()
        files = h2_policy(port, backend.port, free_port(),
                          extra_cluster=", retries: {attempts: 2, budget: 1.0, minimum_retries: 10}")
        files["gateway.yaml"] += f"""\
  - {{name: pay, class: core, match: {{prefix: /pay}}, cluster: once, idempotency: orders}}
redis: {{address: 127.0.0.1:{redis.port}, deadline: 500ms}}
idempotency:
  - {{name: orders, key: [{{header: idempotency-key}}], required: true}}
"""
        files["gateway.yaml"] = files["gateway.yaml"].replace(
            "clusters:\n", f"clusters:\n  - {{name: once, protocol: h2, endpoints: [127.0.0.1:{backend.port}]}}\n")
        s = spawn.sluice(files, port)
        body = b"x" * 20000
        with Conn(port) as c:
            r = c.request("POST", "/echo/refuse-once/h1", headers=[("Host", "x"), ("Content-Type", "application/octet-stream")], body=body)
        assert r.status == 200 and r.json() == {"bytes": len(body)}, r
        h2c = H2Wire(port)
        r = h2c.response(h2c.request("POST", "/echo/refuse-once/h2", body=body))
        h2c.close()
        assert r.status == 200 and json.loads(bytes(r.body)) == {"bytes": len(body)}, r
        assert sorted(backend.refused) == ["/echo/refuse-once/h1", "/echo/refuse-once/h2"]
        assert all(length == len(body) for _, length in backend.processed), backend.processed

        # No retries on this cluster: 502 upstream_refused_stream, and the key is free again.
        key = [("Host", "x"), ("Idempotency-Key", '"order-refused-1"')]
        with Conn(port) as c:
            first = c.request("POST", "/pay/refuse-once", headers=key, body=b"{}")
            again = c.request("POST", "/pay/refuse-once", headers=key, body=b"{}")
            if again.status == 409 and again.json()["error"] == "request_in_flight":
                # The release can reach a fresh Redis after the retry's claim (its script is
                # loaded on first use); the client follows Retry-After, as clients should.
                time.sleep(float(again.header("retry-after")))
                again = c.request("POST", "/pay/refuse-once", headers=key, body=b"{}")
        assert first.status == 502 and first.json()["error"] == "upstream_refused_stream", first
        assert again.status == 200, again
        assert backend.processed.count(("/pay/refuse-once", 2)) == 1
    finally:
        backend.close()


def test_a_stuck_upstream_connection_is_replaced(spawn):
    """A backend that stops reading and answering one connection but keeps it open: the request
    on it times out (504), and later requests go to a new connection instead of timing out on the
    stuck one for as long as traffic keeps it from idling out."""
    backend = ScriptedH2Backend()
    try:
        port = free_port()
        s = spawn.sluice(h2_policy(port, backend.port, free_port()), port)
        with Conn(port) as c:
            assert c.request("GET", "/echo/before", headers=[("Host", "x")]).status == 200
            stuck = c.request("GET", "/echo/wedge", headers=[("Host", "x")])
            assert stuck.status == 504, stuck
            for i in range(3):
                r = c.request("GET", f"/echo/after/{i}", headers=[("Host", "x")])
                assert r.status == 200, r
    finally:
        backend.close()


def test_an_h2_cluster_holds_no_more_connections_than_max_connections(spawn):
    """Three endpoints and room for two connections: of three concurrent slow requests (one to
    each endpoint, round robin), two go through and the third gets 503 upstream_connection_limit
    after the connect timeout; once the others are idle, a request to the third endpoint closes
    the connection idle longest and gets through. Then a stuck connection (its request times
    out, 504) gives its room back when it closes: with room for one, the next requests get a
    new connection."""
    backends = [ScriptedH2Backend() for _ in range(3)]
    try:
        port = free_port()
        endpoints = ", ".join(f"127.0.0.1:{b.port}" for b in backends)
        files = h2_policy(port, backends[0].port, free_port())
        files["gateway.yaml"] = files["gateway.yaml"].replace(
            f"protocol: h2, endpoints: [127.0.0.1:{backends[0].port}]",
            f"protocol: h2, endpoints: [{endpoints}], balance: round_robin, max_connections: 2, connect_timeout: 300ms")
        spawn.sluice(files, port)

        def one(i: int):
            with Conn(port, timeout=10) as c:
                return c.request("GET", f"/echo/slow/{i}", headers=[("Host", "x")])

        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
            answers = list(pool.map(one, range(3)))
        assert sorted(a.status for a in answers) == [200, 200, 503], [(a.status, a.body[:80]) for a in answers]
        assert [a.json()["error"] for a in answers if a.status == 503] == ["upstream_connection_limit"]
        assert sorted(b.accepted for b in backends) == [0, 1, 1]
        with Conn(port, timeout=10) as c:
            for i in range(3):
                assert c.request("GET", f"/echo/fast/{i}", headers=[("Host", "x")]).status == 200
        assert sorted(b.accepted for b in backends) == [1, 1, 1]
    finally:
        for b in backends:
            b.close()
    backend = ScriptedH2Backend()
    try:
        port = free_port()
        spawn.sluice(h2_policy(port, backend.port, free_port(), ", max_connections: 1"), port)
        with Conn(port) as c:
            assert c.request("GET", "/echo/before", headers=[("Host", "x")]).status == 200
            assert c.request("GET", "/echo/wedge", headers=[("Host", "x")]).status == 504
            for i in range(3):
                r = c.request("GET", f"/echo/after/{i}", headers=[("Host", "x")])
                assert r.status == 200, r
        assert backend.accepted == 2, backend.accepted
    finally:
        backend.close()
