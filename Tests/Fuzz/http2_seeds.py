"""Seeds for sluice-fuzz-http2 (README.md, "Input formats"): one file per shape of client frames
after the preface. `python3 Tests/Fuzz/http2_seeds.py Tests/Fuzz/corpus/http2` writes them again."""
import struct, sys
from pathlib import Path
from hpack import Encoder
from hyperframe.frame import (SettingsFrame, HeadersFrame, DataFrame, RstStreamFrame, PingFrame,
                              WindowUpdateFrame, ContinuationFrame, PriorityFrame, GoAwayFrame)

out = Path(sys.argv[1])

def hdrs(enc, sid, fields, end_stream=True, end_headers=True):
    f = HeadersFrame(sid)
    f.data = enc.encode(fields)
    f.flags.add("END_HEADERS") if end_headers else None
    if end_stream: f.flags.add("END_STREAM")
    return f.serialize()

def raw(length, type_, flags, sid, payload=b""):
    return struct.pack(">I", length)[1:] + bytes([type_, flags]) + struct.pack(">I", sid) + payload

def settings(**kw):
    f = SettingsFrame(0)
    f.settings = kw
    return f.serialize()

def ack():
    f = SettingsFrame(0); f.flags.add("ACK"); return f.serialize()

GET = [(":method", "GET"), (":scheme", "https"), (":path", "/v3/pay/transactions/id/4200000001"), (":authority", "pay.example.com"),
       ("user-agent", "fuzz/1"), ("accept", "application/json")]
POST = [(":method", "POST"), (":scheme", "https"), (":path", "/v3/pay/transactions/native"), (":authority", "pay.example.com"),
        ("content-type", "application/json"), ("content-length", "23")]

seeds = {}
def seed(name, flags, split, frames):
    seeds[name] = flags.encode() + struct.pack(">H", split) + frames

e = Encoder()
seed("get", "0", 0, settings() + ack() + hdrs(e, 1, GET))
e = Encoder()
seed("get-answered", "1", 40, settings() + ack() + hdrs(e, 1, GET) + hdrs(e, 3, GET) + hdrs(e, 5, GET))
e = Encoder()
body = b'{"amount":{"total":1}}\n'
d = DataFrame(1); d.data = body; d.flags.add("END_STREAM")
seed("post-body", "1", 30, settings() + hdrs(e, 1, POST, end_stream=False) + d.serialize())
e = Encoder()
d1 = DataFrame(1); d1.data = body[:10]
d2 = DataFrame(1); d2.data = body[10:]
seed("post-body-two-frames-split", "4", 60, settings() + hdrs(e, 1, POST, end_stream=False) + d1.serialize() + d2.serialize()
     + hdrs(e, 1, [("grpc-status", "0")], end_stream=True))
e = Encoder()
seed("trailers-answered", "1", 0, settings() + hdrs(e, 1, POST, end_stream=False) + d1.serialize() + hdrs(e, 1, [("x-checksum", "abc")]))
e = Encoder()
block = e.encode(GET + [("x-long-%d" % i, "v" * 40) for i in range(8)])
h = HeadersFrame(1); h.data = block[:50]; h.flags.add("END_STREAM")
c1 = ContinuationFrame(1); c1.data = block[50:120]
c2 = ContinuationFrame(1); c2.data = block[120:]; c2.flags.add("END_HEADERS")
seed("continuation", "0", 70, settings() + h.serialize() + c1.serialize() + c2.serialize())
seed("continuation-small-limits", "2", 70, settings() + h.serialize() + c1.serialize() + c2.serialize())
# Without the frame audit the whole/split comparison runs: a read ending inside a CONTINUATION's
# header once counted as another CONTINUATION.
seed("continuation-small-limits-no-audit", "6", 70, settings() + h.serialize() + c1.serialize() + c2.serialize())
e = Encoder()
r = RstStreamFrame(1); r.error_code = 8
seed("reset-after-request", "1", 0, settings() + hdrs(e, 1, POST, end_stream=False) + r.serialize())
e = Encoder()
frames = settings()
for i in range(12):
    frames += hdrs(e, 1 + 2 * i, GET) + RstStreamFrame(1 + 2 * i, error_code=8).serialize()
seed("rapid-reset", "2", 100, frames)
seed("rapid-reset-answered", "3", 100, frames)
p = PingFrame(0); p.opaque_data = b"12345678"
seed("pings", "2", 17, settings() + p.serialize() * 20)
w = WindowUpdateFrame(0); w.window_increment = 1 << 20
w1 = WindowUpdateFrame(1); w1.window_increment = 100
e = Encoder()
seed("window-updates", "1", 9, settings(**{})[:0] + raw(6, 4, 0, 0, b"\x00\x04\x00\x00\x00\x0a") + w.serialize() + hdrs(e, 1, GET) + w1.serialize())
e = Encoder()
seed("priority-and-goaway", "0", 0, settings() + PriorityFrame(1, depends_on=0, stream_weight=16).serialize() + hdrs(e, 1, GET)
     + GoAwayFrame(0, last_stream_id=0, error_code=0).serialize())
e = Encoder()
seed("empty-data-flood", "2", 0, settings() + hdrs(e, 1, POST, end_stream=False) + raw(0, 0, 0, 1) * 10)
# Malformed shapes.
e = Encoder()
blk = e.encode(GET)
seed("headers-on-stream-0", "0", 0, settings() + raw(len(blk), 1, 5, 0, blk))
e = Encoder()
seed("even-stream", "0", 0, settings() + hdrs(e, 2, GET))
seed("data-on-idle-stream", "0", 0, settings() + raw(5, 0, 1, 7, b"hello"))
e = Encoder()
seed("stream-id-goes-down", "0", 0, settings() + hdrs(e, 5, GET) + hdrs(e, 3, GET))
e = Encoder()
seed("uppercase-name", "1", 0, settings() + hdrs(e, 1, GET + [("X-Upper", "1")]))
e = Encoder()
seed("connection-header", "1", 0, settings() + hdrs(e, 1, GET + [("connection", "keep-alive"), ("transfer-encoding", "chunked")]))
e = Encoder()
seed("te-trailers-ok-te-gzip-bad", "1", 0, settings() + hdrs(e, 1, GET + [("te", "trailers")]) + hdrs(e, 3, GET + [("te", "gzip")]))
e = Encoder()
seed("missing-path", "1", 0, settings() + hdrs(e, 1, [(":method", "GET"), (":scheme", "https"), (":authority", "a")]))
e = Encoder()
seed("pseudo-after-regular", "1", 0, settings() + hdrs(e, 1, [(":method", "GET"), ("x", "1"), (":path", "/"), (":scheme", "https"), (":authority", "a")]))
e = Encoder()
seed("connect", "1", 0, settings() + hdrs(e, 1, [(":method", "CONNECT"), (":authority", "pay.example.com:443")]))
e = Encoder()
seed("host-differs", "1", 0, settings() + hdrs(e, 1, GET + [("host", "evil.example.com")]))
e = Encoder()
seed("header-list-too-large", "3", 0, settings() + hdrs(e, 1, GET + [("x-big", "b" * 400)]))
e = Encoder()
seed("content-length-mismatch", "1", 0, settings() + hdrs(e, 1, POST, end_stream=False) + d1.serialize() + raw(0, 0, 1, 1))
seed("bad-hpack", "0", 0, settings() + raw(4, 1, 5, 1, b"\xff\xff\xff\xff"))
seed("settings-wrong-length", "0", 0, raw(5, 4, 0, 0, b"\x00\x01\x00\x00\x00"))
seed("oversized-frame", "0", 0, settings() + raw(20000, 0, 0, 1, b"x" * 20000))
seed("truncated-frame", "0", 3, settings() + raw(100, 1, 4, 1, b"\x82\x86"))
e = Encoder()
seed("too-many-streams", "3", 0, settings() + b"".join(hdrs(e, 1 + 2 * i, POST, end_stream=False) for i in range(8)))
for name, data in seeds.items():
    (out / name).write_bytes(data)
print(len(seeds), "seeds")
