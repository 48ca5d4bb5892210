"""A small HTTP/2 client over a raw socket, for tests that need to see frames: RST_STREAM codes,
GOAWAY, flow control held shut on purpose, malformed requests and floods.

Frames are built and parsed with hyperframe and header blocks coded with hpack (both come with
`h2`). h2's own H2Connection is not used to receive: its state machine raises on any frame after
a GOAWAY, and a graceful drain legitimately sends GOAWAY + PING before the in-flight responses.
Nothing here validates what it sends, so tests can send what a real client never would.

Every socket operation has a timeout, so a misbehaving server fails a test instead of hanging it.
"""
from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass, field

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Error codes (RFC 9113 section 7).
NO_ERROR = 0x0
PROTOCOL_ERROR = 0x1
REFUSED_STREAM = 0x7
CANCEL = 0x8
ENHANCE_YOUR_CALM = 0xB


@dataclass
class Stream:
    id: int
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    body_bytes: int = 0
    ended: bool = False
    reset: int | None = None          # RST_STREAM error code from the server
    trailers: list[tuple[str, str]] = field(default_factory=list)   # a HEADERS block after the final head

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def json(self):
        return json.loads(bytes(self.body))

    def __repr__(self) -> str:
        return (f"<Stream {self.id} status={self.status} ended={self.ended} reset={self.reset} "
                f"headers={self.headers} body={bytes(self.body[:300])!r}>")


def frame_bytes(frame: Frame) -> bytes:
    return frame.serialize()


class H2Wire:
    """One client connection. `auto_window`: give back flow-control credit for every DATA frame
    (or, when it is a function of the stream id, for those of the streams it accepts)
    received (a normal client); off, the server can send only what the initial windows allow."""

    def __init__(self, port: int, *, timeout: float = 5.0, settings: dict[int, int] | None = None,
                 auto_window: bool = True, keep_body: bool = True, tls: "ssl.SSLContext | None" = None,
                 server_hostname: str = "gateway.test"):
        """`tls`: speak h2 over TLS with this context (its ALPN is set to h2 here)."""
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
            self.sock = tls.wrap_socket(self.sock, server_hostname=server_hostname)
            assert self.sock.selected_alpn_protocol() == "h2", self.sock.selected_alpn_protocol()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.auto_window = auto_window
        self.keep_body = keep_body
        self.next_stream_id = 1
        self.streams: dict[int, Stream] = {}
        self.goaways: list[tuple[int, int, bytes]] = []   # (last_stream_id, error_code, debug data)
        self.pings_acked = 0
        self.hold_ping_acks = False    # on: the server's PINGs wait in held_pings for ack_held_pings()
        self.held_pings: list[bytes] = []
        self.server_settings: dict[int, int] = {}
        self.closed = False            # the server closed (EOF or reset), seen by reading
        self.reset_by_peer = False
        self.send_failed = False       # a write failed; what the server sent before may still be read
        self._buf = bytearray()
        self._header_block: tuple[int, int, bytearray] | None = None   # (stream, flags, fragments)
        self.send(PREFACE + SettingsFrame(0, settings=settings or {}).serialize())

    # ---- sending

    def send(self, data: bytes) -> bool:
        """Sends `data`; False (and no exception) if the server has closed the connection. Frames
        the server sent before closing stay readable: `pump` still reads them."""
        if self.send_failed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.send_failed = True
            return False

    def ack_ping(self, opaque_data: bytes) -> None:
        ack = PingFrame(0, opaque_data=opaque_data)
        ack.flags.add("ACK")
        self.send(ack.serialize())

    def ack_held_pings(self) -> None:
        """Answers the PINGs held while `hold_ping_acks` was on (a slow network, seen by the server)."""
        for opaque_data in self.held_pings:
            self.ack_ping(opaque_data)
        self.held_pings.clear()

    def new_stream_id(self) -> int:
        sid = self.next_stream_id
        self.next_stream_id += 2
        self.streams[sid] = Stream(sid)
        return sid

    def encode(self, headers: list[tuple[str, str]]) -> bytes:
        return self.encoder.encode(headers)

    def headers_frame(self, sid: int, headers: list[tuple[str, str]], end_stream: bool = True) -> bytes:
        """HEADERS (and CONTINUATION frames when the block is larger than 16 KiB)."""
        block = self.encode(headers)
        pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)] or [b""]
        first = HeadersFrame(sid, data=pieces[0])
        if end_stream:
            first.flags.add("END_STREAM")
        frames = [first] + [ContinuationFrame(sid, data=p) for p in pieces[1:]]
        frames[-1].flags.add("END_HEADERS")
        return b"".join(f.serialize() for f in frames)

    def data_frame(self, sid: int, data: bytes, end_stream: bool = False) -> bytes:
        out = bytearray()
        chunks = [data[i:i + 16384] for i in range(0, len(data), 16384)] or [b""]
        for i, chunk in enumerate(chunks):
            f = DataFrame(sid, data=chunk)
            if end_stream and i == len(chunks) - 1:
                f.flags.add("END_STREAM")
            out += f.serialize()
        return bytes(out)

    def request_headers(self, method: str, path: str,
                        extra: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
        return [(":method", method), (":scheme", "http"), (":authority", f"127.0.0.1:{self.port}"),
                (":path", path), *(extra or [])]

    def request(self, method: str, path: str, headers: list[tuple[str, str]] | None = None,
                body: bytes | None = None) -> int:
        """Opens a stream with a well-formed request (bodies up to the 64 KiB initial window)."""
        sid = self.new_stream_id()
        out = self.headers_frame(sid, self.request_headers(method, path, headers), end_stream=body is None)
        if body is not None:
            out += self.data_frame(sid, body, end_stream=True)
        self.send(out)
        return sid

    def rst_frame(self, sid: int, code: int = CANCEL) -> bytes:
        return RstStreamFrame(sid, error_code=code).serialize()

    def window_update(self, sid: int, increment: int) -> None:
        self.send(WindowUpdateFrame(sid, window_increment=increment).serialize())

    # ---- receiving

    def pump(self, until=lambda: False, timeout: float = 5.0) -> bool:
        """Reads and handles frames until `until()` holds, the server closes, or `timeout` runs
        out; returns `until()`."""
        deadline = time.monotonic() + timeout
        while not until() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(min(left, 0.5))
            try:
                data = self.sock.recv(1 << 18)
            except socket.timeout:
                continue
            except ConnectionResetError:
                self.closed = self.reset_by_peer = True
                break
            if not data:
                self.closed = True
                break
            self._buf += data
            self._parse()
        return until()

    def response(self, sid: int, timeout: float = 5.0) -> Stream:
        """Waits until stream `sid` ended or was reset."""
        s = self.streams[sid]
        self.pump(lambda: s.ended or s.reset is not None, timeout)
        return s

    def wait_closed(self, timeout: float = 5.0) -> bool:
        return self.pump(lambda: False, timeout) or self.closed

    def goaway_codes(self) -> list[int]:
        return [code for _, code, _ in self.goaways]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _parse(self) -> None:
        while len(self._buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self._buf)[:9])
            if len(self._buf) < 9 + length:
                return
            frame.parse_body(memoryview(bytes(self._buf[9:9 + length])))
            del self._buf[:9 + length]
            self._handle(frame)

    def _stream(self, sid: int) -> Stream:
        return self.streams.setdefault(sid, Stream(sid))

    def _handle(self, f: Frame) -> None:
        if isinstance(f, (HeadersFrame, ContinuationFrame)):
            if isinstance(f, HeadersFrame):
                self._header_block = (f.stream_id, set(f.flags), bytearray(f.data))
            elif self._header_block:
                self._header_block[2].extend(f.data)
            if "END_HEADERS" in f.flags and self._header_block:
                sid, flags, block = self._header_block
                self._header_block = None
                s = self._stream(sid)
                fields = [(k if isinstance(k, str) else k.decode(), v if isinstance(v, str) else v.decode())
                          for k, v in self.decoder.decode(bytes(block))]
                status = next((int(v) for k, v in fields if k == ":status"), None)
                if status is not None and status >= 200:
                    s.status = status
                    s.headers = fields
                elif status is None and s.status is not None:
                    s.trailers = fields
                if "END_STREAM" in flags:
                    s.ended = True
        elif isinstance(f, DataFrame):
            s = self._stream(f.stream_id)
            if self.keep_body:
                s.body += f.data
            s.body_bytes += len(f.data)
            if "END_STREAM" in f.flags:
                s.ended = True
            credited = self.auto_window(f.stream_id) if callable(self.auto_window) else self.auto_window
            if credited and f.flow_controlled_length:
                out = WindowUpdateFrame(0, window_increment=f.flow_controlled_length).serialize()
                if not s.ended:
                    out += WindowUpdateFrame(f.stream_id, window_increment=f.flow_controlled_length).serialize()
                self.send(out)
        elif isinstance(f, RstStreamFrame):
            self._stream(f.stream_id).reset = f.error_code
        elif isinstance(f, GoAwayFrame):
            self.goaways.append((f.last_stream_id, f.error_code, bytes(f.additional_data)))
        elif isinstance(f, PingFrame):
            if "ACK" in f.flags:
                self.pings_acked += 1
            elif self.hold_ping_acks:
                self.held_pings.append(bytes(f.opaque_data))
            else:
                self.ack_ping(bytes(f.opaque_data))
        elif isinstance(f, SettingsFrame):
            if "ACK" not in f.flags:
                self.server_settings.update(f.settings)
                ack = SettingsFrame(0)
                ack.flags.add("ACK")
                self.send(ack.serialize())


def get(port: int, path: str = "/echo/fresh", timeout: float = 5.0) -> Stream:
    """One GET on a fresh connection."""
    c = H2Wire(port, timeout=timeout)
    try:
        return c.response(c.request("GET", path), timeout)
    finally:
        c.close()
