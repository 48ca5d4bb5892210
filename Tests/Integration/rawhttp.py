"""A small, strict HTTP/1.1 client over a raw socket, for tests that need to see the wire:
pipelining, interim 100 responses, malformed requests and whether the peer closed.

Every socket operation has a timeout, so a misbehaving server fails a test instead of hanging it.
"""
from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field

DEFAULT_TIMEOUT = 5.0


class ProtocolError(Exception):
    pass


@dataclass
class Response:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)   # chunked trailer fields

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:  # short, for assertion messages
        return f"<Response {self.status} {self.reason} headers={self.headers} body={self.body[:300]!r}>"


def build_request(method: str, path: str, headers: list[tuple[str, str]] | dict | None = None,
                  body: bytes = b"", host: str = "sluice.test") -> bytes:
    """A well-formed request; adds Host and Content-Length unless given."""
    hs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if "host" not in names:
        hs.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
    return head.encode("latin-1") + body


class Conn:
    """One client connection. Keeps unread bytes, so pipelined responses parse one by one."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Conn":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, method: str, path: str, headers=None, body: bytes = b"") -> Response:
        self.send(build_request(method, path, headers, body))
        return self.read_response(method=method)

    # -- reading -------------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Reads more bytes; False on EOF (or reset)."""
        if self.eof:
            return False
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _read_until(self, marker: bytes, limit: int = 1 << 20) -> bytes:
        while marker not in self.buf:
            if len(self.buf) > limit:
                raise ProtocolError(f"no {marker!r} within {limit} bytes")
            if not self._fill():
                raise ProtocolError(f"connection closed before {marker!r}; got {self.buf[:200]!r}")
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError(f"connection closed with {n - len(self.buf)} body bytes missing")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self) -> Response:
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")[:-2]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProtocolError(f"bad status line {lines[0]!r}")
        resp = Response(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "")
        for line in lines[1:]:
            k, _, v = line.partition(":")
            resp.headers.append((k, v.strip()))
        return resp

    def read_response(self, method: str = "GET", allow_interim: bool = False) -> Response:
        """Reads one response. Interim 1xx responses are skipped unless allow_interim."""
        while True:
            resp = self.read_head()
            if 100 <= resp.status < 200:
                if allow_interim:
                    return resp
                continue
            break
        te = (resp.header("transfer-encoding") or "").lower()
        cl = resp.header("content-length")
        if method == "HEAD" or resp.status in (204, 304):
            return resp
        if te:
            if te != "chunked":
                raise ProtocolError(f"unexpected transfer-encoding {te!r}")
            resp.body, resp.trailers = self._read_chunked()
        elif cl is not None:
            resp.body = self._read_exact(int(cl))
        else:  # close-delimited
            while self._fill():
                pass
            resp.body, self.buf = self.buf, b""
        return resp

    def _read_chunked(self) -> tuple[bytes, list[tuple[str, str]]]:
        body = b""
        trailers: list[tuple[str, str]] = []
        while True:
            size_line = self._read_until(b"\r\n").decode("latin-1").strip()
            size = int(size_line.split(";")[0], 16)
            if size == 0:
                while (line := self._read_until(b"\r\n")) != b"\r\n":  # trailers
                    name, _, value = line.decode("latin-1").partition(":")
                    trailers.append((name.strip().lower(), value.strip()))
                return body, trailers
            body += self._read_exact(size)
            if self._read_exact(2) != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")

    def read_all_until_close(self, timeout: float) -> tuple[bytes, bool]:
        """Reads whatever arrives until the peer closes or `timeout` passes.
        Returns (bytes, closed)."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                self._fill()
            except socket.timeout:
                break
        data, self.buf = self.buf, b""
        return data, self.eof

    def closed_by_peer(self, timeout: float = 2.0) -> bool:
        """True if the peer closes the connection (EOF or reset) within `timeout` and sends
        nothing more. Extra bytes make it a failure: a closed-after-400 connection must not
        carry another response."""
        data, closed = self.read_all_until_close(timeout)
        if data:
            raise ProtocolError(f"expected the connection to close, got more bytes: {data[:200]!r}")
        return closed


def abandon(port: int, path: str, backend_delay_ms: int, wait: float = 0.05) -> None:
    """Sends a GET the mock backend holds `backend_delay_ms`, and closes the connection after
    `wait` seconds, long before the answer: a client that gave up mid-request."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nX-Demo-Delay-Ms: {backend_delay_ms}\r\n\r\n".encode())
    time.sleep(wait)
    sock.close()
