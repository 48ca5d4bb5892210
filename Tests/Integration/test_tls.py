"""TLS termination with real processes: curl and openssl s_client against sluice on 127.0.0.1.

Certificates are made per test module by Tests/Support/make-test-certs.sh (the openssl CLI) in
pytest's tmp dir; no key is ever committed.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, SLUICE, free_port, start_sluice, write_policy
from h2wire import H2Wire

MAKE_CERTS = REPO / "Tests" / "Support" / "make-test-certs.sh"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["/bin/sh", str(MAKE_CERTS), str(d)], check=True, timeout=60)
    return d


def tls_policy(port: int, backend_port: int, tls_extra: str = "") -> dict[str, str]:
    return {"gateway.yaml": f"""\
server: {{workers: 2, access_log: off, drain_timeout: 2s}}
listeners:
  - name: secure
    address: 127.0.0.1:{port}
    header_timeout: 2s
    tls:
      certificate: certs/gateway.pem
      key: certs/gateway.key
      sni:
        - {{names: [api.example.com], certificate: certs/api.pem, key: certs/api.key}}
        - {{names: ["*.pay.example.com"], certificate: certs/pay.pem, key: certs/pay.key}}
      handshake_timeout: 1s
{tls_extra}clusters:
  - {{name: demo, endpoints: [127.0.0.1:{backend_port}]}}
routes:
  - name: echo
    class: noncore
    match: {{prefix: /echo}}
    cluster: demo
    timeouts: {{per_try: 5s, total: 10s}}
    max_body: 1MiB
"""}


class TLSSluice:
    def __init__(self, tmp: Path, certs: Path, backend, tls_extra: str = "", edit=lambda files: files):
        self.port = free_port()
        self.dir = write_policy(tmp / f"policy-{self.port}", edit(tls_policy(self.port, backend.port, tls_extra)))
        shutil.copytree(certs, self.dir / "certs")
        self.ca = str(certs / "ca.pem")
        self.certs = certs
        self.sluice = start_sluice(self.dir, self.port, tmp / "logs", listeners=("secure",))
        self.proc = self.sluice.proc

    def curl(self, path: str, *extra: str, host: str = "gateway.test", version: str = "--http1.1") -> subprocess.CompletedProcess:
        return subprocess.run(
            ["curl", "-sS", version, "--max-time", "5", "--cacert", self.ca,
             "--resolve", f"{host}:{self.port}:127.0.0.1", "-w", "\n%{http_code}",
             *extra, f"https://{host}:{self.port}{path}"],
            capture_output=True, text=True, timeout=10)

    def s_client(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
        return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
                               "-CAfile", self.ca, *args],
                              input=stdin, capture_output=True, timeout=10)


@pytest.fixture
def tls_sluice(tmp_path, certs, backend):
    started: list[TLSSluice] = []

    def make(tls_extra: str = "", edit=lambda files: files) -> TLSSluice:
        s = TLSSluice(tmp_path, certs, backend, tls_extra, edit)
        started.append(s)
        return s

    yield make
    for s in started:
        s.proc.stop()


def out(r: subprocess.CompletedProcess) -> str:
    text = r.stdout if isinstance(r.stdout, str) else r.stdout.decode(errors="replace")
    err = r.stderr if isinstance(r.stderr, str) else r.stderr.decode(errors="replace")
    return text + err


REQUEST = b"GET /echo/s HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n"


def test_curl_http11_over_tls_gets_200_with_https_forwarded(tls_sluice):
    s = tls_sluice()
    r = s.curl("/echo/tls")
    body, _, status = r.stdout.rpartition("\n")
    assert status == "200", out(r)
    echoed = json.loads(body)
    assert echoed["headers"]["x-forwarded-proto"] == "https"


def test_tls10_and_tls11_are_refused_tls12_and_13_work(tls_sluice):
    s = tls_sluice()
    for old in ("-tls1", "-tls1_1"):
        # SECLEVEL=0 lets the client offer the old version, so the refusal is the server's.
        r = s.s_client(old, "-cipher", "DEFAULT@SECLEVEL=0")
        assert r.returncode != 0, out(r)
        assert "Cipher is (NONE)" in out(r) or "protocol version" in out(r), out(r)
    r12 = s.s_client("-tls1_2", "-ign_eof", stdin=REQUEST)
    assert r12.returncode == 0, out(r12)
    assert "Protocol  : TLSv1.2" in out(r12) and "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" in out(r12), out(r12)
    r13 = s.s_client("-tls1_3", "-ign_eof", stdin=REQUEST)
    assert r13.returncode == 0 and "New, TLSv1.3" in out(r13), out(r13)
    assert b"HTTP/1.1 200" in r13.stdout
    # TLS 1.2 with only a CBC suite on offer: no shared cipher.
    rcbc = s.s_client("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA")
    assert rcbc.returncode != 0, out(rcbc)


def test_alpn_picks_h2_when_offered_and_http11_otherwise(tls_sluice):
    s = tls_sluice()
    r = s.s_client("-alpn", "h2,http/1.1")
    assert "ALPN protocol: h2" in out(r), out(r)
    r = s.s_client("-alpn", "http/1.1")
    assert "ALPN protocol: http/1.1" in out(r), out(r)


def test_http2_over_tls_reaches_the_backend_as_https(tls_sluice):
    s = tls_sluice()
    r = s.curl("/echo/h2", "-w", "\n%{http_code} %{http_version}", version="--http2")
    assert r.returncode == 0, r.stderr
    body, _, trailer = r.stdout.rpartition("\n")
    assert trailer == "200 2", trailer
    echoed = json.loads(body)["headers"]
    assert echoed["x-forwarded-proto"] == "https"
    assert echoed["via"] == "2 sluice"
    # Many streams on one TLS connection.
    # Many streams on one TLS connection (nghttp does not verify the certificate).
    urls = [f"https://127.0.0.1:{s.port}/echo/{i}" for i in range(30)]
    n = subprocess.run(["nghttp", "-n", "-v", *urls], capture_output=True, text=True, timeout=20)
    statuses = [line for line in n.stdout.splitlines() if ":status: " in line]
    assert n.returncode == 0 and len(statuses) == 30 and all(l.endswith("200") for l in statuses), n.stdout[-2000:] + n.stderr


def test_alpn_http11_only_listener_never_negotiates_h2(tls_sluice):
    s = tls_sluice(tls_extra="      alpn: [http/1.1]\n")
    r = s.s_client("-alpn", "h2,http/1.1")
    assert "ALPN protocol: http/1.1" in out(r), out(r)
    r = s.s_client("-alpn", "h2")
    assert "No ALPN negotiated" in out(r), out(r)


def test_sni_picks_the_certificate(tls_sluice):
    s = tls_sluice()
    cases = {"api.example.com": "CN = api.example.com", "eu.pay.example.com": "CN = *.pay.example.com",
             "unknown.example.org": "CN = gateway.test"}
    for name, subject in cases.items():
        r = s.s_client("-servername", name)
        assert f"subject={subject}" in out(r), (name, out(r))
    r = s.s_client("-noservername")
    assert "subject=CN = gateway.test" in out(r), out(r)
    r = s.curl("/echo/sni", host="api.example.com")
    assert r.stdout.endswith("\n200"), out(r)


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_session_resumption(tls_sluice, tmp_path, version):
    s = tls_sluice()
    session = tmp_path / f"session{version}.pem"
    first = s.s_client(version, "-sess_out", str(session), "-ign_eof", stdin=REQUEST)
    assert first.returncode == 0 and session.exists(), out(first)
    again = s.s_client(version, "-sess_in", str(session), "-ign_eof", stdin=REQUEST)
    assert "Reused, TLSv1." in out(again), out(again)
    assert b"HTTP/1.1 200" in again.stdout


def test_mtls_required(tls_sluice, certs):
    s = tls_sluice("      client_ca: certs/client-ca.pem\n      client_certificate: required\n")
    r = s.curl("/echo/no-cert")
    assert r.returncode != 0 and not r.stdout.endswith("\n200"), out(r)
    r = s.curl("/echo/with-cert", "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"))
    body, _, status = r.stdout.rpartition("\n")
    assert status == "200", out(r)
    echoed = json.dumps(json.loads(body)["headers"])
    assert "client-1" not in echoed and "CERTIFICATE" not in echoed and "Acme" not in echoed
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"
    # A certificate from another CA is refused too.
    r = s.curl("/echo/wrong-ca", "--cert", str(certs / "api.pem"), "--key", str(certs / "api.key"))
    assert not r.stdout.endswith("\n200"), out(r)



def test_mtls_subject_identifies_the_merchant(tls_sluice, certs):
    """`auth: [mtls]`: the verified client certificate's subject is the merchant, forwarded in the
    merchant header; a certificate no merchant is mapped to is 401."""
    def with_auth(files):
        text = files["gateway.yaml"].replace(
            "    max_body: 1MiB\n", "    max_body: 1MiB\n    auth: [mtls]\n")
        text += 'merchants:\n  - {id: "internal-1", client_certificate_subjects: ["CN=client-1,O=Acme Payments"]}\n'
        return {"gateway.yaml": text}
    s = tls_sluice("      client_ca: certs/client-ca.pem\n      client_certificate: optional\n", with_auth)
    r = s.curl("/echo/merchant", "--cert", str(certs / "client.pem"), "--key", str(certs / "client.key"))
    body, _, status = r.stdout.rpartition("\n")
    assert status == "200", out(r)
    assert json.loads(body)["headers"]["x-sluice-merchant"] == "internal-1"
    r = s.curl("/echo/anonymous")
    body, _, status = r.stdout.rpartition("\n")
    assert status == "401" and json.loads(body)["error"] == "missing_signature", out(r)

def test_slow_handshake_is_closed(tls_sluice):
    s = tls_sluice()
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
        start = time.monotonic()
        assert raw.recv(1) == b""  # handshake_timeout 1s: closed without a byte
        assert time.monotonic() - start < 4
    assert s.curl("/echo/after").stdout.endswith("\n200")


def test_h2_client_silent_after_the_handshake_is_closed_at_the_header_timeout(tls_sluice):
    """ALPN h2, then no preface: cut after header_timeout (2 s here) as a silent HTTP/1.1 client
    is, not kept for idle_timeout. A client that sent its preface may then sit idle."""
    s = tls_sluice()
    context = ssl.create_default_context(cafile=s.ca)
    context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="gateway.test") as silent:
            assert silent.selected_alpn_protocol() == "h2"
            start = time.monotonic()
            try:
                while silent.recv(4096):  # the server's SETTINGS, then the close
                    pass
            except (ConnectionResetError, ssl.SSLError):
                pass
            waited = time.monotonic() - start
    assert 1.5 < waited < 5, f"closed after {waited:.1f} s"
    idle = H2Wire(s.port, tls=ssl.create_default_context(cafile=s.ca))
    idle.pump(timeout=3)
    assert not idle.closed and not idle.goaways, (idle.closed, idle.goaways)
    assert idle.response(idle.request("GET", "/echo/after-idle")).status == 200
    idle.close()


def test_sighup_with_new_certificate_retires_connections_made_with_the_old_one(tls_sluice, certs):
    """A renewed certificate reaches every client within the time the requests in flight take:
    the reload sends HTTP/2 connections a GOAWAY (their streams in flight finish) and closes idle
    HTTP/1.1 keep-alive connections. A rejected reload, or one that leaves the listener's
    certificates as they were, keeps every connection."""
    s = tls_sluice()
    context = ssl.create_default_context(cafile=s.ca)

    def http1(name: str = "gateway.test") -> ssl.SSLSocket:
        conn = context.wrap_socket(socket.create_connection(("127.0.0.1", s.port), timeout=5), server_hostname=name)
        conn.sendall(b"GET /echo/old HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 200")
        return conn

    old = http1()
    assert old.getpeercert()["subject"] == ((("commonName", "gateway.test"),),)
    h2 = H2Wire(s.port, tls=ssl.create_default_context(cafile=s.ca))
    assert h2.response(h2.request("GET", "/echo/h2-before")).status == 200

    # A mismatched key is rejected; the running certificate and every connection stay.
    shutil.copy(certs / "stray.key", s.dir / "certs" / "gateway.key")
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"gateway\.yaml:\d+:\d+: private key .* does not match certificate", stream="stderr", timeout=5)
    assert "subject=CN = gateway.test" in out(s.s_client())
    shutil.copy(certs / "gateway.key", s.dir / "certs" / "gateway.key")
    # A reload that changes the routes only: connections stay too.
    (s.dir / "gateway.yaml").write_text((s.dir / "gateway.yaml").read_text().replace("per_try: 5s", "per_try: 4s"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5)
    h2.pump(timeout=0.5)
    assert not h2.goaways and not h2.closed
    old.sendall(b"GET /echo/still HTTP/1.1\r\nHost: gateway.test\r\n\r\n")
    assert old.recv(4096).startswith(b"HTTP/1.1 200")

    shutil.copy(certs / "renewed.pem", s.dir / "certs" / "gateway.pem")
    shutil.copy(certs / "renewed.key", s.dir / "certs" / "gateway.key")
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5, count=2)
    assert "subject=CN = renewed.test" in out(s.s_client())
    # The HTTP/2 connection made before is told to go (GOAWAY NO_ERROR), the idle HTTP/1.1 one closed.
    assert h2.pump(lambda: bool(h2.goaways), timeout=3), "no GOAWAY after the certificate changed"
    assert h2.goaways[0][1] == 0, h2.goaways
    old.settimeout(3)
    assert old.recv(4096) == b"", "the idle keep-alive connection made with the old certificate stays open"
    old.close()
    fresh = http1("renewed.test")
    assert fresh.getpeercert()["subject"] == ((("commonName", "renewed.test"),),)
    fresh.close()


def test_a_certificate_renewed_in_a_subdirectory_is_picked_up_without_a_signal(tls_sluice, certs):
    """Certificate renewal tools write into the policy directory's `certs/` (or a mounted
    secret's directory): only files at the policy directory's top level were watched, so the
    old certificate was served until someone sent SIGHUP. The directories inside are watched too."""
    s = tls_sluice()
    assert "subject=CN = gateway.test" in out(s.s_client())
    # A git checkout's hidden directories (many, sorted before `certs/`) are not watched: they
    # filled the watcher's budget and `certs/` went unwatched.
    for i in range(200):
        (s.dir / ".git" / "objects" / f"{i:02x}").mkdir(parents=True)
    time.sleep(1)  # the reload the new directories cause
    shutil.copy(certs / "renewed.pem", s.dir / "certs" / "gateway.pem")
    shutil.copy(certs / "renewed.key", s.dir / "certs" / "gateway.key")
    deadline = time.monotonic() + 10
    while "subject=CN = renewed.test" not in out(s.s_client()):
        assert time.monotonic() < deadline, "the renewed certificate was not picked up:\n" + s.proc.stderr()
        time.sleep(0.2)


def test_check_reports_expired_certificate_and_key_mismatch(tmp_path, certs, binaries):
    d = tmp_path / "policy"
    text = tls_policy(8443, 9001)["gateway.yaml"].replace(
        "certificate: certs/api.pem, key: certs/api.key", "certificate: certs/expired.pem, key: certs/expired.key").replace(
        "key: certs/gateway.key", "key: certs/stray.key")
    write_policy(d, {"gateway.yaml": text})
    shutil.copytree(certs, d / "certs")
    r = subprocess.run([str(SLUICE), "check", str(d)], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines == [
        f"{d}/gateway.yaml:7:20: private key {d}/certs/stray.key does not match certificate {d}/certs/gateway.pem",
        f"{d}/gateway.yaml:10:51: certificate {d}/certs/expired.pem expired on 2020-01-02 00:00:00 UTC (notAfter)",
    ], r.stderr


def test_tls_to_upstream_clusters(tls_sluice, tmp_path, certs):
    """A second sluice forwards over TLS to the first one's TLS listener."""
    front = tls_sluice()
    port = free_port()
    routes = "".join(f"""\
  - name: {name}
    class: noncore
    match: {{prefix: /echo/{name}}}
    cluster: {name}
    timeouts: {{per_try: 5s, total: 10s}}
    max_body: 1MiB
""" for name in ("good", "badca", "noverify", "wrongname"))
    policy = {"gateway.yaml": f"""\
server: {{workers: 1, access_log: stdout}}
listeners:
  - {{name: edge, address: 127.0.0.1:{port}}}
clusters:
  - {{name: good, endpoints: [127.0.0.1:{front.port}], tls: {{ca: certs/ca.pem, sni: gateway.test}}}}
  - {{name: badca, endpoints: [127.0.0.1:{front.port}], tls: {{ca: certs/client-ca.pem}}}}
  - {{name: noverify, endpoints: [127.0.0.1:{front.port}], tls: {{verify: false}}}}
  - {{name: wrongname, endpoints: [127.0.0.1:{front.port}], tls: {{ca: certs/ca.pem, sni: other.test}}}}
routes:
{routes}"""}
    d = write_policy(tmp_path / "edge-policy", policy)
    shutil.copytree(certs, d / "certs")
    edge = start_sluice(d, port, tmp_path / "edge-logs", listeners=("edge",))
    try:
        def get(path):
            r = subprocess.run(["curl", "-sS", "--max-time", "5", "-w", "\n%{http_code}", f"http://127.0.0.1:{port}{path}"],
                               capture_output=True, text=True, timeout=10)
            body, _, status = r.stdout.rpartition("\n")
            return status, body
        status, body = get("/echo/good")
        assert status == "200", body
        assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"  # set by the TLS front
        status, body = get("/echo/good/again")  # pooled TLS connection
        assert status == "200", body
        status, body = get("/echo/badca")
        assert status == "502" and json.loads(body)["error"] == "upstream_connect_failed", body
        # The client is not told the backend's address or OpenSSL's reason; the access log is.
        assert "127.0.0.1" not in body and "certificate" not in body and "badca" not in body, body
        assert "could not be reached" in json.loads(body)["message"], body
        deadline = time.monotonic() + 5
        while not (logged := [e for e in edge.access_log() if e.get("route") == "badca"]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logged and logged[0]["upstream"] == f"127.0.0.1:{front.port}", logged
        assert "certificate verify failed" in logged[0]["detail"], logged
        status, body = get("/echo/wrongname")  # the certificate is for gateway.test, 127.0.0.1
        assert status == "502", body
        status, body = get("/echo/noverify")
        assert status == "200", body
    finally:
        edge.proc.stop()


def test_idle_keep_alive_tls_connection_waits_for_the_idle_timeout_not_the_header_timeout(tls_sluice):
    """header_timeout 2s: a TLS keep-alive connection idle for 3.5 s between requests is still
    served (OpenSSL reads the socket itself, so its readiness once made the idle wait return at
    once and the header timeout answer 408), and each pause makes the session park its task."""
    s = tls_sluice()
    context = ssl.create_default_context(cafile=s.ca)
    context.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="gateway.test") as tls:
            for i, pause in enumerate([0, 3.5, 1.5]):
                time.sleep(pause)
                tls.sendall(f"GET /echo/idle-{i} HTTP/1.1\r\nHost: gateway.test\r\n\r\n".encode())
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = tls.recv(4096)
                    assert chunk, f"closed after a {pause} s pause"
                    head += chunk
                assert head.startswith(b"HTTP/1.1 200 "), (pause, head[:80])


def test_idle_h2_tls_connection_parks_and_serves_new_streams(tls_sluice):
    """HTTP/2 over TLS: after pauses long enough to park (100 ms with no stream), new streams on
    the same connection are served: the wake goes through OpenSSL's buffered bytes as well as
    the socket's."""
    s = tls_sluice()
    h2 = H2Wire(s.port, tls=ssl.create_default_context(cafile=s.ca))
    try:
        for i, pause in enumerate([0, 0.5, 2.5, 0.2]):
            time.sleep(pause)
            sids = [h2.request("GET", f"/echo/h2-idle-{i}-{k}") for k in range(2)]
            for k, sid in enumerate(sids):
                r = h2.response(sid)
                assert r.status == 200 and r.ended, (pause, k, r)
                assert json.loads(r.body)["path"] == f"/echo/h2-idle-{i}-{k}", r
    finally:
        h2.close()


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_a_client_ca_replaced_on_reload_lets_no_old_session_resume(tls_sluice, tmp_path, certs, version):
    """An operator cuts off a client CA (a compromised internal caller) by replacing client_ca and
    reloading: a full handshake with its certificate is refused, and so must be resuming a session
    that certificate opened before (it resumed, merchant and all, until the session expired)."""
    s = tls_sluice("      client_ca: certs/client-ca.pem\n      client_certificate: required\n")
    session = tmp_path / f"mtls{version}.pem"
    client = ("-cert", str(certs / "client.pem"), "-key", str(certs / "client.key"))
    first = s.s_client(version, *client, "-sess_out", str(session), "-ign_eof", stdin=REQUEST)
    assert first.returncode == 0 and b"HTTP/1.1 200" in first.stdout, out(first)
    before = s.s_client(version, "-sess_in", str(session), "-ign_eof", stdin=REQUEST)
    assert "Reused, TLSv1." in out(before) and b"HTTP/1.1 200" in before.stdout, out(before)  # resumption works
    (s.dir / "certs" / "client-ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded", stream="stderr", timeout=5)
    after = s.s_client(version, "-sess_in", str(session), "-ign_eof", stdin=REQUEST)
    assert "Reused, TLSv1." not in out(after) and b"HTTP/1.1 200" not in after.stdout, out(after)


def test_failed_handshakes_are_counted_by_reason(tmp_path, certs, backend):
    """`sluice_tls_handshake_failures_total{reason}`: cleartext to the TLS port, a client that
    offers only TLS 1.1, one with no cipher suite in common, and one that does not trust the
    listener's certificate each count under their own reason ("failed" alone could not tell
    clients still on old TLS from clients that reject a rotated certificate)."""
    admin = free_port()

    def with_admin(files):
        files["admin.yaml"] = f"admin: {{address: 127.0.0.1:{admin}}}\n"
        return files

    s = TLSSluice(tmp_path, certs, backend, edit=with_admin)
    for request in [b"GET /echo HTTP/1.1\r\nHost: gateway.test\r\n\r\n", b"DELETE /echo HTTP/1.1\r\nHost: gateway.test\r\n\r\n",
                    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]:
        with socket.create_connection(("127.0.0.1", s.port), timeout=5) as plain:
            plain.sendall(request)
            plain.recv(4096)
    old = s.s_client("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert b"Cipher is (NONE)" in old.stdout or old.returncode != 0, old
    no_cipher = s.s_client("-tls1_2", "-cipher", "AES128-SHA")
    assert no_cipher.returncode != 0, no_cipher
    untrusting = ssl.create_default_context()  # the system's CAs: not the test CA
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusting.wrap_socket(raw, server_hostname="gateway.test")
    assert s.curl("/echo/fine").stdout.endswith("200")

    def failures():
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        return {m.group(1): int(float(m.group(2)))
                for m in re.finditer(r'^sluice_tls_handshake_failures_total\{reason="([a-z_]+)"\} (\S+)$', text, re.M)}

    deadline = time.monotonic() + 5
    while len(failures()) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    # (OpenSSL names GET as HTTP; DELETE and the h2c preface are only "not TLS", never an old TLS.)
    assert failures() == {"plain_http": 1, "not_tls": 2, "protocol_version": 1, "no_shared_cipher": 1,
                          "certificate_rejected_by_client": 1}, failures()
