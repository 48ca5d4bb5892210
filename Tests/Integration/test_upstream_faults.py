"""Dead and slow upstreams: 502 and 504 with a JSON reason, in bounded time."""
import re
import subprocess
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


class ScriptedBackend:
    """A keep-alive HTTP/1.1 backend on raw sockets that answers each request by its path with
    `script(method, path)` (a list of byte strings, written with short pauses between them) and
    logs (connection number, method, path) of every request it reads."""

    def __init__(self, script, drop_on_reuse=()):
        import socket
        import threading
        self.script, self.log = script, []
        # Paths whose first request on a connection that already served one is read and then
        # the connection closed unanswered (a keep-alive timeout firing as the gateway reuses it).
        self.drop_on_reuse, self.dropped = set(drop_on_reuse), []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import threading
        number = 0
        while True:
            try:
                sock, _ = self.server.accept()
            except OSError:
                return
            number += 1
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock, number):
        try:
            self._exchange(sock, number)
        except OSError:
            pass  # the gateway closed a connection it will not reuse

    @staticmethod
    def read_head(sock, data):
        """(head, the bytes after it), reading as needed; None when the connection ends first."""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head, rest

    def _exchange(self, sock, number):
        data, served = b"", 0
        with sock:
            while (read := self.read_head(sock, data)) is not None:
                head, data = read
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ")
                length = sum(int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:"))
                while len(data) < length:
                    data += sock.recv(65536)
                data = data[length:]
                if served and path in self.drop_on_reuse:
                    self.drop_on_reuse.discard(path)
                    self.dropped.append((number, method, path))
                    return
                served += 1
                self.log.append((number, method, path))
                for i, part in enumerate(self.script(method, path)):
                    if i:
                        time.sleep(0.1)
                    sock.sendall(part)

    def close(self):
        self.server.close()


def answer(text: str) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(text), text.encode())


def test_bytes_a_backend_sends_after_its_response_never_answer_the_next_request(spawn):
    """A backend that writes past its framed response a moment later (a stray second response,
    a body to a HEAD, more bytes than its Content-Length): the bytes sat unread in the idle pooled
    connection, and the next request on it (a payment) got them as its response, the queue shifted
    by one from then on (another client's answer to the request after). An idle connection that
    holds unread bytes is closed instead of reused: every request gets its own answer."""
    def script(method, path):
        if path == "/echo/late":
            return [answer("late"), b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Smuggled: yes\r\n\r\nEVIL!"]
        if path == "/echo/head-body":
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"HELLO"]
        if path == "/echo/long-body":
            return [answer("ok"), b"XYZ"]
        return [answer(f"{method} {path}")]

    backend = ScriptedBackend(script)
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
        for first, method in (("/echo/late", "GET"), ("/echo/head-body", "HEAD"), ("/echo/long-body", "GET")):
            with Conn(s.port) as c:
                assert c.request(method, first).status == 200
            time.sleep(0.4)  # the stray bytes arrive while the connection is idle in the pool
            with Conn(s.port) as c:
                r = c.request("POST", f"/echo/pay-after{first}", {"Content-Type": "application/json"}, b'{"amount":100}')
                assert r.status == 200 and r.body == f"POST /echo/pay-after{first}".encode(), (first, r)
                assert r.header("x-smuggled") is None, r
            with Conn(s.port) as c:
                r = c.request("GET", f"/echo/query-after{first}")
                assert r.status == 200 and r.body == f"GET /echo/query-after{first}".encode(), (first, r)
        payments = [entry for entry in backend.log if entry[2].startswith("/echo/pay-after")]
        assert len(payments) == 3, backend.log
    finally:
        backend.close()


def test_an_unrequested_101_is_a_bad_response_not_skipped(spawn):
    """The gateway never forwards Upgrade, so a backend's 101 is a switch nobody asked for (RFC
    9110 §15.2.2). It was skipped like a 100, and the other protocol's bytes after it were read
    as the response (relayed, and stored as an idempotent answer); now 502 and the connection is
    not reused."""
    def script(method, path):
        if path.startswith("/echo/switch"):
            return [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" + answer("not-http")]
        return [answer(f"{method} {path}")]

    backend = ScriptedBackend(script)
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
        with Conn(s.port) as c:
            r = c.request("POST", "/echo/switch", {"Content-Type": "application/json"}, b"{}")
            assert r.status == 502 and r.json()["error"] == "upstream_bad_response", r
            assert b"not-http" not in r.body, r
            r = c.request("GET", "/echo/next")
            assert r.status == 200 and r.body == b"GET /echo/next", r
        switched = next(number for number, _, path in backend.log if path == "/echo/switch")
        assert [number for number, _, path in backend.log if path == "/echo/next"] != [switched], backend.log
    finally:
        backend.close()


def test_a_keep_alive_connection_closed_as_it_is_reused(spawn):
    """A backend whose keep-alive timeout fires just as the gateway reuses the connection closes
    it without reading the request (here: reads it and closes, unanswered). That was a 502, and
    for an order its idempotency record turned `unknown`: 409 for a day, for an order the backend
    never took. Now a GET goes once more on a new connection; a POST is never sent twice (a
    backend that crashed after executing it looks the same), so it avoids the race instead: it
    takes a pooled connection only if it idled less than the cluster's `unsafe_reuse_idle` (1s),
    within which backends' keep-alive timeouts do not fire."""
    def script(method, path):
        return [answer(f"{method} {path}")]

    races = ("/echo/race-get", "/echo/race-post", "/echo/race-post-late")
    backend = ScriptedBackend(script, drop_on_reuse=races)
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
        order = {"Content-Type": "application/json", "Idempotency-Key": "k-race"}
        for path, method, idle, expected in (
                ("/echo/race-get", "GET", 0, 200),        # reused, closed unread: sent again
                ("/echo/race-post", "POST", 0, 502),      # reused (idle < 1 s), closed unread: not sent again
                ("/echo/race-post-late", "POST", 1.3, 200)):  # idle > 1 s: a new connection, no race
            with Conn(s.port) as c:
                assert c.request("GET", "/echo/warm").status == 200   # leaves a pooled connection
            time.sleep(idle)
            with Conn(s.port) as c:
                r = c.request(method, path, order if method == "POST" else {}, b'{"amount":100}' if method == "POST" else b"")
                assert r.status == expected, (path, r)
                if expected == 200:
                    assert r.body == f"{method} {path}".encode(), r
        assert sorted(path for _, _, path in backend.dropped) == ["/echo/race-get", "/echo/race-post"], backend.dropped
        answered = [(number, path) for number, _, path in backend.log if path in races]
        assert [path for _, path in answered] == ["/echo/race-get", "/echo/race-post-late"], backend.log
        dropped_on = {path: number for number, _, path in backend.dropped}
        assert [number for number, path in answered if path == "/echo/race-get"] != [dropped_on["/echo/race-get"]]
    finally:
        backend.close()


class EarlyAnsweringBackend(ScriptedBackend):
    """A buggy backend: it answers each request as soon as its head is read, keeps the connection,
    and never reads the body, so the body's bytes are parsed as the start of the next request.
    Logs (connection number, request line) of every request it parses."""

    def __init__(self):
        super().__init__(script=None)

    def _exchange(self, sock, number):
        data = b""
        with sock:
            while (read := self.read_head(sock, data)) is not None:
                head, data = read
                line = head.split(b"\r\n")[0].decode("latin-1")
                self.log.append((number, line))
                sock.sendall(answer(line))


def test_a_backend_answering_before_the_body_is_sent_does_not_get_its_connection_reused(spawn):
    """A backend that answers a streamed upload after reading only its head, and goes on reading
    the body as the next request: the connection was pooled, and the next client's request was
    glued to the end of the first client's body (the backend served the first client's
    `GET /echo/SMUGGLED` with the second client's headers, and the second client got that answer).
    An answer that began before the whole body was sent now keeps the connection out of the pool."""
    import socket
    backend = EarlyAnsweringBackend()
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
        smuggled = b"GET /echo/SMUGGLED HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"P" * 1900
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as a:
            a.sendall(b"POST /upload HTTP/1.1\r\nHost: g\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled[:1000])
            time.sleep(0.3)   # the backend's answer arrives while the body streams
            a.sendall(smuggled[1000:])
            assert a.recv(65536).startswith(b"HTTP/1.1 200"), "the upload's answer"
        with Conn(s.port) as c:
            victim = c.request("GET", "/echo/victim", {"Cookie": "victim-secret"})
        assert victim.status == 200 and victim.body == b"GET /echo/victim HTTP/1.1", victim
        assert not any("SMUGGLED" in line for _, line in backend.log), backend.log
    finally:
        backend.close()


class RefusingBackend(ScriptedBackend):
    """A backend that refuses every upload after reading its head: 413 with a body of its own,
    then closes without reading the body (the kernel answers the unread bytes with a reset)."""

    REFUSAL = b'{"code":"FILE_TOO_LARGE","message":"at most 1 MB"}'

    def __init__(self):
        super().__init__(script=None)

    def _exchange(self, sock, number):
        with sock:
            if self.read_head(sock, b"") is None:
                return
            self.log.append((number, "refused"))
            sock.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(self.REFUSAL), self.REFUSAL))


def test_a_backend_refusing_an_upload_before_reading_it_is_relayed_not_502(spawn):
    """The write of the body fails when the backend closes, but its answer is in the receive
    queue: the client gets the backend's 413 and its body (was 502 upstream_write_failed), then
    the connection closes (the rest of its body was never read)."""
    import socket
    import threading
    backend = RefusingBackend()
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1, protocol="auto"), port)
        for framing in ("content-length", "chunked"):
            body = b"F" * (8 << 20)
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
                if framing == "chunked":
                    c.sendall(b"POST /upload HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n")
                    wire = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                                    for i in range(0, len(body), 65536)) + b"0\r\n\r\n"
                else:
                    c.sendall(b"POST /upload HTTP/1.1\r\nHost: g\r\nContent-Length: %d\r\n\r\n" % len(body))
                    wire = body

                def upload():
                    try:
                        c.sendall(wire)
                    except OSError:
                        pass  # the gateway closed after answering
                sender = threading.Thread(target=upload, daemon=True)
                sender.start()
                received = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    received += chunk
                sender.join(10)
            head, _, answer_body = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 413"), (framing, received[:300])
            assert answer_body == RefusingBackend.REFUSAL, (framing, received[:300])
            assert b"connection: close" in head.lower(), head
        # HTTP/2 (h2c): the whole answer on the stream, then RST_STREAM NO_ERROR so the client
        # stops sending (RFC 9113 §8.1). nghttp, as curl 7.88 reports that reset as an error.
        upload_file = s.policy_dir / "upload.bin"
        upload_file.write_bytes(b"F" * (8 << 20))
        out = subprocess.run(["nghttp", "-v", "-d", str(upload_file), f"{s.url}/upload"], capture_output=True, timeout=30)
        text = out.stdout.decode("latin-1")
        assert out.returncode == 0 and re.search(r"recv \(stream_id=\d+\) :status: 413", text), text[-2000:]
        assert RefusingBackend.REFUSAL.decode() in text, text[-2000:]
        resets = re.findall(r"recv RST_STREAM frame.*\n\s*\(error_code=(\w+)", text)
        assert resets and set(resets) == {"NO_ERROR"}, text[-2000:]
        deadline = time.monotonic() + 5
        while len(uploads := [r for r in s.access_log() if r["path"] == "/upload"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(r["status"], r["upstream"] is not None) for r in uploads] == [(413, True)] * 3, uploads
    finally:
        backend.close()


def test_a_response_cut_off_mid_body_is_never_a_clean_end_for_an_http10_client(spawn):
    """An HTTP/1.0 client reads an answer without a length until the connection ends. When the
    backend's chunked answer broke off mid-body, the gateway closed cleanly: the client took
    `{"prepay_id":` for a whole 200 (curl exited 0). The connection now ends with a reset."""
    import socket

    def script(method, path):
        if path == "/echo/cut":
            return [b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{\"prepay_id\":\r\n",
                    b"zz\r\n"]   # a broken chunk size: the backend's answer ends here
        return [answer(f"{method} {path}")]

    backend = ScriptedBackend(script)
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
                c.sendall(b"GET /echo/cut HTTP/1.0\r\nHost: g\r\n\r\n")
                received, reset = b"", False
                try:
                    while chunk := c.recv(65536):
                        received += chunk
                except ConnectionResetError:
                    reset = True
            assert received.startswith(b"HTTP/1.1 200"), received
            assert reset, f"a clean end after {received!r}"
        # HTTP/1.1: the missing last chunk shows the cut-off; a plain close, no reset (a reset
        # would throw away what the socket still holds of an earlier answer, pipelined).
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
            c.sendall(b"GET /echo/cut HTTP/1.1\r\nHost: g\r\n\r\n")
            received = b""
            while chunk := c.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200") and not received.endswith(b"0\r\n\r\n"), received
        with Conn(s.port) as c:   # the gateway serves on
            assert c.request("GET", "/echo/after").status == 200
    finally:
        backend.close()


def test_a_body_of_one_byte_chunks_arrives_whole_in_few_writes(spawn):
    """200,000 one-byte chunks: each went out as its own write (a writev and a send per byte),
    holding the loop for over a second. The pieces one read brings now go out together; the
    body arrives whole and in order, over HTTP/1.1 and HTTP/1.0."""
    import socket
    pieces = 200_000
    body = bytes(ord("a") + i % 26 for i in range(pieces))

    def script(method, path):
        if path == "/echo/tiny":
            return [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(pieces)) + b"0\r\n\r\n"]
        return [answer(f"{method} {path}")]

    backend = ScriptedBackend(script)
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
        with Conn(s.port, timeout=30) as c:
            r = c.request("GET", "/echo/tiny")
            assert r.status == 200 and r.body == body, (r.status, len(r.body))
            assert c.request("GET", "/echo/next").body == b"GET /echo/next"
        with socket.create_connection(("127.0.0.1", s.port), timeout=30) as c:
            c.sendall(b"GET /echo/tiny HTTP/1.0\r\nHost: g\r\n\r\n")
            received = b""
            while chunk := c.recv(1 << 20):
                received += chunk
        assert received.split(b"\r\n\r\n", 1)[1] == body
    finally:
        backend.close()


class PausingBackend(ScriptedBackend):
    """Answers with a chunk, then waits for the test's go-ahead before the rest."""

    def __init__(self):
        import threading
        self.proceed = threading.Event()
        super().__init__(script=None)

    def _exchange(self, sock, number):
        with sock:
            if self.read_head(sock, b"") is None:
                return
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            self.proceed.wait(10)
            sock.sendall(b"5\r\nworld\r\n0\r\n\r\n")


def test_a_chunk_is_relayed_before_the_backend_sends_more(spawn):
    """A backend that sends a chunk and then pauses (a stream, a heartbeat, a late last chunk):
    its chunk sat in the gateway until the backend's next bytes came. The client now gets it while
    the backend waits (the backend here sends the rest only once the client has the first)."""
    import socket
    backend = PausingBackend()
    try:
        port = free_port()
        s = spawn.sluice(standard_policy(port, backend.port, free_port(), workers=1), port)
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
            c.sendall(b"GET /echo/stream HTTP/1.1\r\nHost: g\r\n\r\n")
            received = b""
            while b"hello" not in received:
                chunk = c.recv(65536)
                assert chunk, received
                received += chunk
            backend.proceed.set()
            while not received.endswith(b"0\r\n\r\n"):
                received += c.recv(65536)
        assert b"world" in received
    finally:
        backend.proceed.set()
        backend.close()

