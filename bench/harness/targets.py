"""What the runner starts: redis, the backend (the mock payment backend, or nginx answering 200
at once for the speed baselines), sluice (from a policy template) and the peers (nginx, HAProxy,
h2o, nghttpx) configured to the same routes, worker count, upstream keep-alive (64 idle
connections) and TLS certificate, with the same per-request header work where the peer can do it
(X-Forwarded-For, X-Forwarded-Proto; X-Request-Id: nginx, HAProxy, sluice) and no access log."""
from __future__ import annotations

import http.client
import json
import os
import shutil
import string
import subprocess
from pathlib import Path

from .procs import BenchError, Proc, free_port, log
from .scenario import seconds

UPSTREAM_KEEPALIVE = 64


def tool(name: str) -> str:
    found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if not found:
        raise BenchError(f"bench: {name} not found (`make deps` installs it)")
    return found


def make_cert(work: Path) -> dict:
    """A throwaway self-signed EC certificate for 127.0.0.1 / localhost."""
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run([tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    combined = work / "cert+key.pem"
    combined.write_text(cert.read_text() + key.read_text())
    return {"cert": str(cert), "key": str(key), "combined": str(combined)}


def start_redis(work: Path) -> int:
    port = free_port()
    p = Proc("redis", [tool("redis-server"), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                       "--appendonly", "no"], work)
    p.wait_port(port)
    return port


def http_call(port: int, method: str, path: str, body: str | None = None) -> tuple[int, str]:
    """One request on its own connection to 127.0.0.1:port: (status, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


# -- the mock backend --------------------------------------------------------------------------

class Backend:
    kind = "mock"

    def __init__(self, work: Path, binary: Path, workers: int, settings: dict, command: str | None):
        self.port = free_port()
        self.settings = settings
        if command:
            argv = ["/bin/sh", "-c", command.format(port=self.port)]
        else:
            argv = [str(binary), "--listen", f"127.0.0.1:{self.port}", "--workers", str(workers)]
            for k, v in settings.items():
                argv += [f"--{k.replace('_', '-')}", str(v)]
        self.proc = Proc("backend", argv, work)
        self.proc.wait_port(self.port)

    def call(self, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        return http_call(self.port, method, path, body)

    def control(self, settings: dict) -> None:
        status, body = self.call("POST", "/__control", json.dumps(settings))
        if status != 200:
            raise BenchError(f"bench: backend /__control {settings}: {status} {body}")

    def reset(self) -> None:
        """Back to the scenario's own settings (a timeline may have changed them)."""
        self.control({"mode": "normal", "latency": "none", "error_rate": 0, **self.settings})

    def stats(self) -> dict:
        try:
            return json.loads(self.call("GET", "/__stats")[1])
        except (OSError, ValueError):
            return {}

    def seed(self, merchants: list[str], count: int, total_fen: int) -> None:
        """Orders the query / refund / close traffic refers to: SEED-0 .. SEED-(count-1) per merchant."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            for m in merchants:
                for i in range(count):
                    body = json.dumps({"mchid": m, "out_trade_no": f"SEED-{i}", "description": "seed",
                                       "amount": {"total": total_fen, "currency": "CNY"}})
                    c.request("POST", "/v3/pay/transactions/jsapi", body=body,
                              headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    r.read()
                    if r.status != 200:
                        raise BenchError(f"bench: seeding orders: backend answered {r.status}")
        finally:
            c.close()


STATIC_BODY = '{"code":"SUCCESS","message":"ok","trade_state":"SUCCESS","out_trade_no":"BENCH-0000000001","x":""}'


def start_static_nginx(work: Path, body: str = "ok", workers: int = 1) -> tuple[Proc, int]:
    """nginx answering 200 with `body` at once to anything (any method; a request body is read
    and dropped), `workers` worker(s), no access log, keep-alive connections kept for a million
    requests (nginx's default, 1,000, would make every proxy reconnect upstream all the time): a
    backend cheaper than any proxy, so that the proxy is what is measured. Returns (process, port)."""
    port = free_port()
    conf = work / "static-nginx.conf"
    temp = " ".join(f"{k}_temp_path {work}/static-nginx-{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(f"worker_processes {workers}; pid {work}/static-nginx.pid; error_log {work}/static-nginx.err;\n"
                    "events { worker_connections 16384; }\n"
                    f"http {{ access_log off; {temp} keepalive_requests 1000000; keepalive_timeout 300s;\n"
                    f"  server {{ listen 127.0.0.1:{port}; location / {{ default_type application/json; "
                    f"return 200 '{body}'; }} }} }}\n")
    p = Proc("static-nginx", [tool("nginx"), "-c", str(conf), "-g", "daemon off;"], work)
    p.wait_port(port)
    return p, port


class StaticBackend:
    """The speed baselines' backend: start_static_nginx with a ~100-byte JSON answer. Has the
    mock backend's interface where the runner calls it (no behaviour to switch, no ledger)."""

    kind = "static"

    def __init__(self, work: Path, workers: int):
        self.proc, self.port = start_static_nginx(work, STATIC_BODY, workers)

    def reset(self) -> None:
        pass

    def stats(self) -> dict:
        return {}


# -- sluice ------------------------------------------------------------------------------------

def render_policy(template_dir: Path, out: Path, values: dict) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(template_dir.glob("*.yaml")):
        (out / f.name).write_text(string.Template(f.read_text()).safe_substitute(values))
    return out


def sluice_check(sluice: Path, policy: Path) -> str | None:
    """None when `sluice check` accepts the policy, else its complaint (first lines)."""
    r = subprocess.run([str(sluice), "check", str(policy)], capture_output=True, text=True, timeout=30)
    if r.returncode == 0:
        return None
    lines = (r.stderr or r.stdout).strip().splitlines()
    return "; ".join(lines[:3]) or f"sluice check exited {r.returncode}"


def bundled_validations_without_auth() -> str:
    """policies/validations.yaml for a bench route without auth: the bundled rules bind `mchid`
    to the merchant auth verified (`merchant: true`), which such a route has none of, so every
    body would be refused; the binding is the one check taken out (a comparison of a few bytes)."""
    text = (Path(__file__).resolve().parents[2] / "policies" / "validations.yaml").read_text()
    if ", merchant: true}" not in text:
        raise BenchError("bench: policies/validations.yaml no longer binds mchid with ', merchant: true}'")
    return text.replace(", merchant: true}", "}")


GUARD_KEYS = ("bulkheads", "degrade", "limits", "idempotency", "auth", "breakers")
ROUTE_GUARD_KEYS = ("bulkhead", "degrade", "limits", "idempotency", "auth", "breaker")


def strip_guards(policy: Path) -> None:
    """The rendered policy without its guards (the `sluice-unguarded` target: what the guards
    buy, on the same routes): top-level guard sections and routes' guard keys removed, as text
    (a YAML round trip would turn `access_log: off` into `false`, a file name), then checked."""
    import re
    import yaml
    top = re.compile(r"^(%s)\s*:" % "|".join(GUARD_KEYS))
    key = re.compile(r"^(\s+)(?:-\s+)?(%s)\s*:" % "|".join(ROUTE_GUARD_KEYS))
    for f in sorted(policy.glob("*.yaml")):
        out, skip_deeper_than = [], None
        for line in f.read_text().splitlines(keepends=True):
            indent = len(line) - len(line.lstrip(" "))
            if skip_deeper_than is not None:
                if not line.strip() or line.lstrip().startswith("#") or indent > skip_deeper_than:
                    continue
                skip_deeper_than = None
            if top.match(line):
                skip_deeper_than = 0
                continue
            m = key.match(line)
            if m and "- " not in line[:indent + 2]:
                skip_deeper_than = len(m.group(1))
                continue
            out.append(line)
        f.write_text("".join(out))
        doc = yaml.safe_load(f.read_text()) or {}
        left = [k for k in GUARD_KEYS if k in doc] + [f"{r.get('name')}.{k}" for r in doc.get("routes") or []
                                                      for k in ROUTE_GUARD_KEYS if k in r]
        if left:
            raise BenchError(f"bench: sluice-unguarded: could not take {', '.join(left)} out of {f.name} "
                             f"(write guard keys in block style, one per line)")


def start_sluice(work: Path, sluice: Path, policy: Path, port: int, workers: int, name: str = "sluice") -> Proc:
    p = Proc(name, [str(sluice), "run", "--policy", str(policy), "--workers", str(workers)], work)
    p.wait_line(rf"^sluice: listening on 127\.0\.0\.1:{port} ")
    return p


# -- peers -------------------------------------------------------------------------------------

NGINX_PROXY = """\
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-Id $request_id;
            proxy_read_timeout 10s;
"""


def _nginx_locations(limits: list[dict] | None, proxy: str = NGINX_PROXY) -> tuple[str, str]:
    """(http-level zones, locations): one location per group of peer_limits with `limit_conn` (the
    requests in flight in it; nginx has no queue for it, so over the limit is 503 at once), or
    the one plain location."""
    if not limits:
        return "", f"        location / {{\n{proxy}        }}\n"
    zones = ["    limit_conn_status 503;", "    limit_conn_log_level info;   # not logged (error_log warn)"]
    locations = []
    for g in sorted(limits, key=lambda g: not g["prefix"]):  # the catch-all last (nginx picks the longest prefix anyway)
        zones.append(f"    limit_conn_zone $server_port zone={g['name']}:1m;   # one key: the whole location")
        locations.append(f"        location {g['prefix'] or '/'} {{   # {g['name']}\n"
                         f"            limit_conn {g['name']} {int(g['max_concurrent'])};\n{proxy}        }}\n")
    return "\n".join(zones) + "\n", "".join(locations)


def _nginx_upstream(backend_port: int, breaker: dict | None) -> tuple[str, str]:
    """(the upstream's server lines, extra proxy directives). With the breaker equivalent:
    `max_fails` / `fail_timeout` on the server, listed `servers` times (nginx ignores both with
    a single server line: one server is never marked unavailable), and `proxy_next_upstream`
    with the statuses that count (only what proxy_next_upstream names is an unsuccessful
    attempt; a POST's 503 never is, since non_idempotent is left out: a payment is never sent
    twice). When every entry is marked, nginx answers 502 at once ("no live upstreams")."""
    if not breaker:
        return f"        server 127.0.0.1:{backend_port};\n", ""
    b = breaker["nginx"]
    line = (f"        server 127.0.0.1:{backend_port} max_fails={int(b['max_fails'])} "
            f"fail_timeout={max(1, int(round(seconds(b['fail_timeout']))))}s;\n")  # whole seconds only
    note = ("        # the same backend again: with a single server line nginx ignores max_fails\n"
            if int(b["servers"]) > 1 else "")
    return line + note + line * (int(b["servers"]) - 1), f"            proxy_next_upstream {b['next_upstream']};\n"


def start_nginx(work: Path, backend_port: int, workers: int, protocol: str, cert: dict | None,
                limits: list[dict] | None = None, breaker: dict | None = None,
                locations: str | None = None, max_connections: int = 16384) -> tuple[Proc, int]:
    """`locations`: the server's own location blocks (each proxying with NGINX_PROXY), instead
    of the ones `limits` makes (bench/many-routes: a route table)."""
    port = free_port()
    prefix = work / "nginx"
    prefix.mkdir()
    temp = "\n".join(f"    {k}_temp_path {prefix}/{k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    listen = f"127.0.0.1:{port}"
    tls = ""
    if protocol != "h1":
        listen += " ssl http2" if protocol == "h2-tls" else " ssl"
        tls = (f"        ssl_certificate {cert['cert']};\n        ssl_certificate_key {cert['key']};\n"
               "        ssl_protocols TLSv1.2 TLSv1.3;\n        ssl_session_cache shared:SSL:10m;\n"
               "        http2_max_concurrent_streams 256;\n")
    servers, next_upstream = _nginx_upstream(backend_port, breaker)
    zones, made = _nginx_locations(limits, NGINX_PROXY + next_upstream)
    locations = locations or made
    (prefix / "nginx.conf").write_text(f"""\
{"user root;" if os.geteuid() == 0 else ""}
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {max_connections}; }}
http {{
    access_log off;
{temp}
{zones}    upstream backend {{
{servers}        keepalive {UPSTREAM_KEEPALIVE};
    }}
    server {{
        listen {listen};
        keepalive_requests 1000000;
        client_max_body_size 1m;
{tls}{locations}    }}
}}
""")
    p = Proc("nginx", [tool("nginx"), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                       "-e", str(prefix / "error.log")], work)
    p.wait_port(port)
    return p, port


def _haproxy_backends(backend_port: int, limits: list[dict] | None, breaker: dict | None = None) -> tuple[str, str]:
    """(frontend rules, backends): one backend per group of peer_limits whose server has
    `maxconn` (requests in flight), waiters in the backend's queue for `timeout queue`, and the
    queue's length bounded like a bulkhead's (503 when `queue(backend)` is at `queue`); or the
    one plain backend. With the breaker equivalent, the server observes its answers (`observe
    layer7`: 5xx but 501/505, and no answer, are errors; `error-limit` of them in a row mark it
    down at once) and is health-checked (`check`, which `observe` needs: GET `check_path` every
    `inter`, `downinter` while down, `fastinter` while going up or down; `rise` passes bring it
    back, `fall` failures take it out by themselves). With its only server down, HAProxy
    answers 503 at once ("No server is available")."""
    server = f"server b1 127.0.0.1:{backend_port} pool-max-conn {UPSTREAM_KEEPALIVE}"
    check = ""
    if breaker:
        h = breaker["haproxy"]
        ms = lambda v: f"{int(round(1000 * seconds(v)))}ms"  # noqa: E731
        server += (f" check inter {ms(h['inter'])} fastinter {ms(h['fastinter'])} downinter {ms(h['downinter'])}"
                   f" rise {int(h['rise'])} fall {int(h['fall'])}"
                   f" observe layer7 error-limit {int(h['error_limit'])} on-error mark-down")
        check = f"    option httpchk GET {h['check_path']}\n"
    if not limits:
        return "    default_backend backend\n", f"backend backend\n{check}    {server}\n"
    rules, backends, default = [], [], ""
    for g in limits:
        name = g["name"]
        if g["prefix"]:
            cond = [f"{{ path_beg {g['prefix']} }}"] + ([f"{{ method {' '.join(g['methods'])} }}"] if g["methods"] else [])
            rules.append(f"    use_backend {name} if {' '.join(cond)}\n")
        else:
            default = name
        queue = int(g["queue"])
        queue_ms = int(round(1000 * seconds(g["queue_timeout"]))) if queue else 1
        backends.append(f"backend {name}\n"
                        f"    http-request deny deny_status 503 if {{ queue({name}) ge {max(1, queue)} }}   # queue bound\n"
                        f"    timeout queue {max(1, queue_ms)}ms\n{check}"
                        f"    {server} maxconn {int(g['max_concurrent'])}\n")
    return "".join(rules) + f"    default_backend {default}\n", "\n".join(backends)


def start_haproxy(work: Path, backend_port: int, workers: int, protocol: str, cert: dict | None,
                  limits: list[dict] | None = None, breaker: dict | None = None,
                  rules: str | None = None, max_connections: int = 8000) -> tuple[Proc, int]:
    """`rules`: the frontend's own rules choosing the backend `backend` (bench/many-routes: a route
    table); what they leave goes to `not_found`, which answers 404."""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    proto = "http"
    if protocol != "h1":
        alpn = "h2,http/1.1" if protocol == "h2-tls" else "http/1.1"
        bind += f" ssl crt {cert['combined']} alpn {alpn} ssl-min-ver TLSv1.2"
        proto = "https"
    if rules:
        backends = (_haproxy_backends(backend_port, None, breaker)[1]
                    + "\nbackend not_found\n    http-request return status 404\n")
        rules += "    default_backend not_found\n"
    else:
        rules, backends = _haproxy_backends(backend_port, limits, breaker)
    cfg = work / "haproxy.cfg"
    cfg.write_text(f"""\
global
    nbthread {workers}
    maxconn {max_connections}
    tune.h2.max-concurrent-streams 256

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 10s
    timeout http-keep-alive 60s
    option http-keep-alive
    http-reuse always

frontend bench
    bind {bind}
    option forwardfor
    http-request set-header X-Forwarded-Proto {proto}
    http-request set-header X-Request-Id %[uuid()]
{rules}
{backends}""")
    p = Proc("haproxy", [tool("haproxy"), "-db", "-f", str(cfg)], work)
    p.wait_port(port)
    return p, port


def _check_protocol(protocol: str) -> None:
    if protocol not in ("h1", "h1-tls", "h2-tls"):
        raise BenchError(f"bench: protocol '{protocol}'")


def start_h2o(work: Path, backend_port: int, workers: int, protocol: str, cert: dict | None,
              max_connections: int = 16384) -> tuple[Proc, int]:
    """h2o (Debian's h2o 2.2) as a plain reverse proxy: `num-threads` workers, upstream HTTP/1.1
    keep-alive (h2o keeps idle upstream connections for `proxy.timeout.keepalive`), X-Forwarded-For
    and X-Forwarded-Proto (its default; it cannot make a per-request X-Request-Id), no access log.
    Over TLS it offers ALPN h2 and http/1.1 (wrk offers no ALPN, so h1-tls is HTTP/1.1). Idle
    client connections are kept 300 s (`http1-request-timeout`, default 10 s; `http2-idle-timeout`)."""
    _check_protocol(protocol)
    port = free_port()
    prefix = work / "h2o"
    prefix.mkdir()
    listen = f"listen:\n  host: 127.0.0.1\n  port: {port}\n"
    if protocol != "h1":
        listen += (f"  ssl:\n    certificate-file: {cert['cert']}\n    key-file: {cert['key']}\n"
                   "    minimum-version: TLSv1.2\n    ocsp-update-interval: 0\n")  # no OCSP fetcher processes
    user = "user: root\n" if os.geteuid() == 0 else ""  # as root, h2o wants to be told which user
    (prefix / "h2o.conf").write_text(f"""\
{user}num-threads: {workers}
max-connections: {max_connections}
pid-file: {prefix}/h2o.pid
error-log: {prefix}/error.log
http1-request-timeout: 300
http2-idle-timeout: 300
http2-max-concurrent-requests-per-connection: 256
proxy.timeout.keepalive: 60000
proxy.timeout.io: 10000
limit-request-body: 1048576
{listen}hosts:
  default:
    paths:
      /:
        proxy.reverse.url: http://127.0.0.1:{backend_port}/
        proxy.preserve-host: ON
""")
    p = Proc("h2o", [tool("h2o"), "-c", str(prefix / "h2o.conf")], work)
    p.wait_port(port)
    return p, port


def start_nghttpx(work: Path, backend_port: int, workers: int, protocol: str, cert: dict | None,
                  max_connections: int = 16384) -> tuple[Proc, int]:
    """nghttpx (Debian's nghttp2-proxy) as a plain reverse proxy: `--workers` worker threads,
    HTTP/1.1 upstream keep-alive with up to 64 connections to the backend
    (`--backend-connections-per-host`, default 8), X-Forwarded-For and X-Forwarded-Proto (it
    cannot make a per-request X-Request-Id), no access log (its default). Clear text frontends
    take HTTP/1.1 and h2c; TLS ones offer ALPN h2 and http/1.1. Idle client connections kept 300 s."""
    _check_protocol(protocol)
    port = free_port()
    prefix = work / "nghttpx"
    prefix.mkdir()
    frontend = f"127.0.0.1,{port}" + (";no-tls" if protocol == "h1" else "")
    lines = [f"frontend={frontend}", f"backend=127.0.0.1,{backend_port};;proto=http/1.1",
             f"workers={workers}", f"backend-connections-per-host={UPSTREAM_KEEPALIVE}",
             "backend-keep-alive-timeout=60s", "frontend-keep-alive-timeout=300s",
             "frontend-read-timeout=300s", "frontend-http2-read-timeout=300s",
             "frontend-http2-max-concurrent-streams=256", "add-x-forwarded-for=yes",
             f"worker-frontend-connections={max_connections}", f"rlimit-nofile={max_connections + 1024}",
             "request-header-field-buffer=32K", "no-ocsp=yes", f"pid-file={prefix}/nghttpx.pid",
             f"errorlog-file={prefix}/error.log", "tls-min-proto-version=TLSv1.2"]
    if protocol == "h1":
        lines.append("no-server-push=yes")
    else:
        lines += [f"private-key-file={cert['key']}", f"certificate-file={cert['cert']}"]
    conf = prefix / "nghttpx.conf"
    conf.write_text("\n".join(lines) + "\n")
    p = Proc("nghttpx", [tool("nghttpx"), f"--conf={conf}"], work)
    p.wait_port(port)
    return p, port
