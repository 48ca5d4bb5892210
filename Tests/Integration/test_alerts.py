"""Alerts against the real binary: a breaker forced open and a pinned degradation level fire
their rules (a log line each, and a JSON POST to a loopback webhook), and resolve when released;
the shipped Prometheus rules pass `promtool check rules`, and a live /metrics passes
`promtool check metrics`."""
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from conftest import REPO, free_port, standard_policy
from rawhttp import Conn

TOKEN = "alerts-test-token-0123456789abcdef"


class Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["content-length"]))
        Hook.received.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def admin_post(admin, path):
    request = urllib.request.Request(admin + path, method="POST", data=b"", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as r:
        assert r.status == 200


def wait_for(predicate, what, timeout=6.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def alerting_gateway(spawn, backend, sections: str):
    """The standard policy with an admin listener (token), a breaker `demo` on cluster `demo`,
    and `sections` (alerts, ...); the sluice and its admin URL."""
    port, admin_port = free_port(), free_port()
    files = standard_policy(port, backend.port, free_port())
    files["keys/admin.token"] = TOKEN + "\n"
    files["ops.yaml"] = f"""\
admin: {{address: 127.0.0.1:{admin_port}, token_file: keys/admin.token}}
breakers:
  - {{name: demo, cluster: demo}}
""" + sections
    return spawn.sluice(files, port), f"http://127.0.0.1:{admin_port}"


def test_alerts_fire_and_resolve_with_a_log_line_and_a_webhook(spawn, backend):
    hook_port = free_port()
    server = HTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.received = []
    try:
        s, admin = alerting_gateway(spawn, backend, f"""\
degrade:
  signals: {{in_flight: 1000}}
alerts:
  - {{name: demo-breaker, when: {{breaker_open: demo}}, webhook: {{url: "http://127.0.0.1:{hook_port}/sluice", timeout: 1s, retries: 2}}}}
  - {{name: degraded, when: {{degrade_level: fallback}}}}
  - {{name: errors, when: {{error_rate: {{above: 0.5, window: 30s, min_requests: 5}}}}}}
""")
        admin_post(admin, "/admin/breakers/demo?state=open")
        wait_for(lambda: any(body["state"] == "firing" for _, body in Hook.received), "no firing webhook")
        path, body = next((p, b) for p, b in Hook.received if b["state"] == "firing")
        assert path == "/sluice" and body["alert"] == "demo-breaker" and body["detail"] == "breaker demo is forced_open"
        assert "sluice: alert demo-breaker firing: breaker demo is forced_open" in s.proc.stderr()
        admin_post(admin, "/admin/breakers/demo?state=auto")
        wait_for(lambda: any(body["state"] == "resolved" for _, body in Hook.received), "no resolved webhook")
        admin_post(admin, "/admin/degrade?level=shed")
        wait_for(lambda: "sluice: alert degraded firing: degradation level shed" in s.proc.stderr(), "degraded alert")
        admin_post(admin, "/admin/degrade?level=auto")
        wait_for(lambda: "sluice: alert degraded resolved" in s.proc.stderr(), "degraded alert resolved")
        assert "alert errors firing" not in s.proc.stderr()
        # promtool agrees with what /metrics serves.
        with urllib.request.urlopen(admin + "/metrics", timeout=5) as r:
            text = r.read()
        checked = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"], input=text, capture_output=True, timeout=20)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        server.shutdown()


def test_an_error_rate_alert_stays_firing_while_fewer_requests_keep_failing(spawn, backend):
    """min_requests keeps a few answers from firing the alert; it does not resolve it. A
    backend failing every request once traffic fell under min_requests read as resolved."""
    s, _ = alerting_gateway(spawn, backend, """\
alerts:
  - {name: errors, when: {error_rate: {above: 0.5, window: 3s, min_requests: 10}}}
""")

    def get(path):
        with Conn(s.port, timeout=10) as c:
            return c.request("GET", path).status

    time.sleep(1.5)  # the checks' first count of answers, which the window's are taken from
    assert [get("/dead/a") for _ in range(12)] == [502] * 12
    wait_for(lambda: "sluice: alert errors firing" in s.proc.stderr(), "errors alert did not fire")
    # Two failing requests a second: under min_requests per window, and all failing.
    until = time.monotonic() + 5
    while time.monotonic() < until:
        assert get("/dead/b") == 502
        time.sleep(0.5)
    assert "sluice: alert errors resolved" not in s.proc.stderr(), s.proc.stderr()[-800:]
    # The failures stop (a few requests, all answered): resolved once the window holds no more.
    until = time.monotonic() + 6
    while time.monotonic() < until and "sluice: alert errors resolved" not in s.proc.stderr():
        assert get("/echo/fine") == 200
        time.sleep(0.5)
    assert "sluice: alert errors resolved" in s.proc.stderr(), s.proc.stderr()[-800:]


def test_the_shipped_prometheus_rules_pass_promtool():
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make deps` installs Debian's prometheus package"
    out = subprocess.run([promtool, "check", "rules", str(REPO / "policies" / "prometheus" / "sluice-alerts.yml")],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and "SUCCESS: 5 rules found" in out.stdout, out.stdout + out.stderr


def test_redis_unreachable_fires_for_a_frozen_redis_whose_connections_stay_up(spawn, backend, redis):
    """A Redis that stops answering (SIGSTOP, a hung server) keeps its TCP connections: the alert
    fires once the calls' breaker opens, and resolves when Redis answers again."""
    from rawhttp import Conn
    from test_rate_limits import policy, route
    port, admin_port = free_port(), free_port()
    files = policy(port, backend.port, redis.port, """\
  - name: q
    algorithm: token_bucket
    rate: 1000000/s
    burst: 1000000
    key: [route]
    on_redis_failure: allow
""", route("q", "/echo/q", ["q"]), workers=1, deadline="20ms", breaker="{failures: 3, failing_for: 50ms, open_for: 500ms}")
    files["keys/admin.token"] = TOKEN + "\n"
    files["ops.yaml"] = f"""\
admin: {{address: 127.0.0.1:{admin_port}, token_file: keys/admin.token}}
alerts:
  - {{name: redis, when: {{redis_unreachable: true}}}}
"""
    s = spawn.sluice(files, port)

    def traffic(seconds):
        end = time.monotonic() + seconds
        with Conn(port) as c:
            while time.monotonic() < end:
                assert c.request("GET", "/echo/q").status == 200  # allow: served either way

    traffic(0.2)
    redis.pause()
    try:
        traffic(1.0)
        wait_for(lambda: "sluice: alert redis firing" in s.proc.stderr(), "no firing alert while Redis is frozen", timeout=4)
        assert "Redis connections answering (1 up)" in s.proc.stderr(), s.proc.stderr()[-500:]
    finally:
        redis.resume()
    deadline = time.monotonic() + 6
    while "sluice: alert redis resolved" not in s.proc.stderr():
        assert time.monotonic() < deadline, "the alert did not resolve after Redis came back"
        traffic(0.2)


class FlakyHook(BaseHTTPRequestHandler):
    """Answers 500 while `failing`, 200 after; records every message it took (2xx)."""
    failing = True
    taken: list = []

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        status = 500 if FlakyHook.failing else 200
        if status == 200:
            FlakyHook.taken.append(body)
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_webhook_gets_an_alerts_messages_in_order_and_never_a_stale_retry_last(spawn, backend):
    """Retries of a `firing` message the webhook refused arrived after the `resolved` one, and a
    receiver acting on the last message showed the breaker open for good. Now one delivery at a
    time per alert, a newer state ends an older one's retries, and each message has a sequence."""
    hook_port = free_port()
    server = HTTPServer(("127.0.0.1", hook_port), FlakyHook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FlakyHook.failing, FlakyHook.taken = True, []
    try:
        s, admin = alerting_gateway(spawn, backend, f"""\
alerts:
  - {{name: demo-breaker, when: {{breaker_open: demo}}, webhook: {{url: "http://127.0.0.1:{hook_port}/sluice", timeout: 1s, retries: 3}}}}
""")
        admin_post(admin, "/admin/breakers/demo?state=open")
        wait_for(lambda: "alert demo-breaker firing" in s.proc.stderr(), "firing")
        admin_post(admin, "/admin/breakers/demo?state=auto")
        wait_for(lambda: "alert demo-breaker resolved" in s.proc.stderr(), "resolved")
        time.sleep(0.3)
        FlakyHook.failing = False  # the firing message's retries (0.5 s, 1 s, 2 s apart) are still due
        wait_for(lambda: any(m["state"] == "resolved" for m in FlakyHook.taken), "no resolved message", timeout=8)
        time.sleep(3.5)  # any stale retry would have come by now
        assert FlakyHook.taken[-1]["state"] == "resolved", FlakyHook.taken
        sequences = [m["sequence"] for m in FlakyHook.taken]
        assert sequences == sorted(sequences) and sequences[-1] == 2, FlakyHook.taken
    finally:
        server.shutdown()
