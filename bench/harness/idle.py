"""The idle-connections mode (bench/scenarios/idle-*.yaml): many client connections opened to
each proxy and left idle, and what they cost it in resident memory (RSS after minus RSS before,
divided by the connections still open when measured). Each connection may first carry one
request (`request_first`, the default), the way a real client's connection idles between
requests: buffers a proxy keeps after a request count, buffers it frees do not."""
from __future__ import annotations

import errno
import resource
import socket
import ssl
import time

from .procs import BenchError, Proc, log

# What the issue asks of sluice (KiB of RSS per idle connection), by the scenario's protocol.
TARGETS_KIB = {"h1-tls": 16.0, "h1": 4.0}
SPARE_FDS = 4096     # beyond the idle connections: listeners, upstream connections, logs, pipes
HAPROXY_SPARE = 64   # HAProxy's maxconn above the idle connections (it wants 2 fds per maxconn)


def haproxy_maxconn(connections: int) -> int:
    return connections + HAPROXY_SPARE


def fds_needed(connections: int, haproxy: bool) -> int:
    """The open-file limit the idle mode needs: the connections and spare for every process,
    and, when HAProxy is among the targets, its two per maxconn (plus its own few)."""
    return max(connections + SPARE_FDS, 2 * haproxy_maxconn(connections) + 256 if haproxy else 0)


def raise_fd_limit(connections: int, haproxy: bool) -> dict:
    """Raises this process's open-file limit (RLIMIT_NOFILE) to fds_needed, soft and, when
    needed and allowed (CAP_SYS_RESOURCE), hard; the processes the runner starts afterwards
    inherit it. Returns what it was and what it is, for the report."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = fds_needed(connections, haproxy)
    if soft >= need:
        return {"before": [soft, hard], "after": [soft, hard], "how": "already enough"}
    new_hard = max(hard, need)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, new_hard))
    except (ValueError, OSError) as e:
        most = (hard - 256) // 2 - HAPROXY_SPARE if haproxy else hard - SPARE_FDS
        why = " (HAProxy wants two per connection)" if haproxy else ""
        raise BenchError(f"bench: {connections} idle connections need an open-file limit of {need}{why}; "
                         f"it is {soft}, hard {hard}, and the hard limit could not be raised ({e}). "
                         f"Raise it (`ulimit -Hn {need}` as root with CAP_SYS_RESOURCE, or in "
                         f"/etc/security/limits.conf), or run --idle-connections {most} (the most this limit allows)")
    how = "setrlimit(RLIMIT_NOFILE) in bench/run, inherited by every process it starts" + (
        " (hard limit raised too)" if new_hard > hard else "")
    log(f"idle: open-file limit {soft}/{hard} -> {need}/{new_hard} ({how})")
    return {"before": [soft, hard], "after": [need, new_hard], "how": how}


def _client_context(alpn: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols([alpn])
    return ctx


class _H2Client:
    """One HTTP/2 connection of the idle mode (Python's h2): kept with its socket so that the
    connection stays open and correct (h2 answers the server's PINGs and SETTINGS if read)."""

    def __init__(self, sock) -> None:
        import h2.config
        import h2.connection
        self.sock = sock
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        sock.sendall(self.conn.data_to_send())

    def get(self, port: int, path: str) -> int:
        import h2.events
        stream = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream, [(":method", "GET"), (":scheme", "https"), (":authority", f"127.0.0.1:{port}"),
                                        (":path", path)], end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        status = 0
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise OSError("connection closed before the response ended")
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    status = int(dict(event.headers)[":status"])
                if isinstance(event, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                if isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)) and event.stream_id == stream:
                    self.sock.sendall(self.conn.data_to_send())
                    return status
            self.sock.sendall(self.conn.data_to_send())

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()


def _read_response(sock) -> int:
    """Reads one HTTP/1.1 response (Content-Length or chunked) and returns its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed before the response head")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    if "content-length" in fields:
        while len(body) < int(fields["content-length"]):
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("connection closed inside the response body")
            body += chunk
    elif "chunked" in fields.get("transfer-encoding", "").lower():
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError("connection closed inside the chunked body")
            body += chunk
    return status


def open_connections(port: int, count: int, protocol: str, request_first: bool, path: str) -> list:
    """`count` connections to 127.0.0.1:port, one after another (for h1-tls and h2-tls a full
    TLS handshake each, ALPN http/1.1 or h2), each carrying one GET `path` first when
    `request_first` (over HTTP/2: the preface, SETTINGS, one stream)."""
    ctx = _client_context("h2" if protocol == "h2-tls" else "http/1.1") if protocol != "h1" else None
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    socks = []
    for i in range(count):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        s = ctx.wrap_socket(raw) if ctx else raw
        if protocol == "h2-tls":
            if s.selected_alpn_protocol() != "h2":
                raise BenchError(f"bench: idle: connection {i} did not negotiate h2 ({s.selected_alpn_protocol()})")
            client = _H2Client(s)
            status = client.get(port, path) if request_first else 200
            s = client
        elif request_first:
            s.sendall(request)
            status = _read_response(s)
        else:
            status = 200
        if not 200 <= status < 300:
            raise BenchError(f"bench: idle: connection {i} got {status} for GET {path}")
        socks.append(s)
    return socks


def still_open(socks: list) -> int:
    """How many of the connections the server has not closed (no EOF, no reset waiting)."""
    n = 0
    for s in socks:
        s = s.sock if isinstance(s, _H2Client) else s
        raw = s if not isinstance(s, ssl.SSLSocket) else socket.socket(fileno=s.fileno())
        try:
            raw.setblocking(False)
            try:
                n += 1 if raw.recv(1, socket.MSG_PEEK) else 0  # data pending (unexpected) still counts open
            except BlockingIOError:
                n += 1
            except OSError as e:
                if e.errno not in (errno.ECONNRESET, errno.EPIPE):
                    raise
        finally:
            if raw is not s:
                raw.detach()
            else:
                raw.setblocking(True)
    return n


def measure(name: str, proc: Proc, port: int, count: int, protocol: str, request_first: bool, path: str,
            settle: float) -> dict:
    """RSS of the target's process group before, with `count` idle connections open (after
    `settle` seconds), and per connection still open then."""
    before = proc.rss_kib()
    cpu0, t0 = proc.cpu_seconds(), time.monotonic()
    socks = open_connections(port, count, protocol, request_first, path)
    opened_s = time.monotonic() - t0
    try:
        time.sleep(settle)
        after = proc.rss_kib()
        cpu = proc.cpu_seconds() - cpu0
        alive = still_open(socks)
    finally:
        for s in socks:
            s.close()
    per = (after - before) / alive if alive else None
    log(f"idle: {name}: {count} connections opened in {opened_s:.1f} s, {alive} still open; RSS {before / 1024:.1f} "
        f"-> {after / 1024:.1f} MiB: {per:.2f} KiB per connection" if per is not None else
        f"idle: {name}: no connection still open")
    return {"connections": count, "still_open": alive, "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_connection": per, "open_seconds": opened_s, "cpu_s_opening": cpu,
            "cpu_us_per_connection": 1e6 * cpu / count if count else None}


def verdicts(results: dict, protocol: str) -> dict:
    """sluice's figure against the issue's target and against nginx's (the design's bar: idle
    connections no dearer than nginx's)."""
    s, n = results.get("sluice"), results.get("nginx")
    out = {"target_kib": TARGETS_KIB.get(protocol)}
    if s and s["kib_per_connection"] is not None:
        out["sluice_kib"] = s["kib_per_connection"]
        if out["target_kib"] is not None:
            out["target_met"] = s["kib_per_connection"] <= out["target_kib"]
        if n and n["kib_per_connection"]:
            out["times_nginx"] = s["kib_per_connection"] / n["kib_per_connection"]
    return out


def lines(results: dict, markdown: bool) -> list[str]:
    idle = results.get("idle")
    if not idle:
        return []
    kind = {"h1-tls": "TLS (HTTP/1.1 inside)", "h2-tls": "TLS (HTTP/2 inside)"}.get(idle["protocol"], "clear-text HTTP/1.1")
    title = (f"Idle connections: {idle['connections']:,} {kind} connections per target, "
             + ("each after one request" if idle["request_first"] else "no request") + f", measured {idle['settle']} "
             f"after the last opened; order {', '.join(idle['order'])} (seed {results.get('order_seed')})")
    out = [f"## {title}", ""] if markdown else [f"\n{title}"]
    if markdown:
        out += ["| target | KiB per connection | still open | RSS before MiB | RSS after MiB | opened in s | "
                "CPU µs per connection opened |", "|---|---:|---:|---:|---:|---:|---:|"]
    for t, r in idle["targets"].items():
        per = "n/a" if r["kib_per_connection"] is None else f"{r['kib_per_connection']:.2f}"
        if markdown:
            out.append(f"| {t} | {per} | {r['still_open']:,} | {r['rss_before_kib'] / 1024:.1f} | "
                       f"{r['rss_after_kib'] / 1024:.1f} | {r['open_seconds']:.1f} | {r['cpu_us_per_connection']:.0f} |")
        else:
            out.append(f"{t:<16} {per:>8} KiB/conn  {r['still_open']:>6} still open  "
                       f"RSS {r['rss_before_kib'] / 1024:.1f} -> {r['rss_after_kib'] / 1024:.1f} MiB")
    v = idle["verdict"]
    if "sluice_kib" in v:
        sentence = f"sluice: {v['sluice_kib']:.2f} KiB per idle connection"
        if v.get("target_kib") is not None:
            sentence += (f"; the issue's target is ≤ {v['target_kib']:g} KiB: "
                         + ("met" if v.get("target_met") else "NOT met"))
        if v.get("times_nginx") is not None:
            sentence += f"; {v['times_nginx']:.2f}× nginx's"
        out += (["", sentence + ".", ""] if markdown else [sentence])
    fd = idle["fd_limit"]
    note = (f"Open-file limit: {fd['before'][0]}/{fd['before'][1]} -> {fd['after'][0]}/{fd['after'][1]} "
            f"({fd['how']}).")
    out += ([note, ""] if markdown else [note])
    return out
