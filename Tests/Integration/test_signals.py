"""Reload (SIGHUP) and drain (SIGTERM) with real processes."""
import signal
import subprocess
import threading
import time

from conftest import SLUICE, free_port, standard_policy, start_sluice, write_policy
from curlclient import curl
from rawhttp import Conn

EXTRA_ROUTE = """\
  - name: added
    class: noncore
    match: {prefix: /added/}
    cluster: demo
    timeouts: {per_try: 5s, total: 10s}
    max_body: 1MiB
"""


def own_sluice(spawn, backend):
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    return spawn.sluice(files, port), files


def wait_status(url, status, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = curl(url).status
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_sighup_with_bad_file_keeps_old_policy(spawn, backend):
    s, files = own_sluice(spawn, backend)
    assert curl(s.url + "/echo/before").status == 200
    (s.policy_dir / "routes.yaml").write_text(files["routes.yaml"].replace("class: core", "clas: core"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"routes\.yaml:\d+:\d+: ", stream="stderr", timeout=5)
    assert s.proc.alive()
    assert curl(s.url + "/echo/after").status == 200
    assert curl(s.url + "/nowhere").status == 404


def test_a_routes_file_emptied_or_removed_is_refused_and_the_routes_stay(spawn, backend):
    """A routes file truncated mid-write, or removed before its replacement is copied in (more
    than the watcher's 300 ms apart): such a reload took every route down (404 for every request,
    /readyz still ready). `sluice check` says the same."""
    s, files = own_sluice(spawn, backend)
    routes = s.policy_dir / "routes.yaml"
    for times, damage in enumerate((lambda: routes.write_text(""), routes.unlink), start=1):
        damage()
        s.proc.signal(signal.SIGHUP)
        s.proc.wait_for_output(r"reload \(SIGHUP\) rejected.*\n.*no routes defined", stream="stderr", timeout=5, count=times)
        assert curl(s.url + "/echo/still").status == 200
        check = subprocess.run([str(SLUICE), "check", str(s.policy_dir)], capture_output=True, text=True, timeout=20)
        assert check.returncode == 1 and "no routes defined" in check.stderr, check
        # The emptied file is named (it said the directory); a removed one cannot be.
        assert ("routes.yaml:1:1: the file is empty and no routes defined" in check.stderr) == (times == 1), check.stderr
    routes.write_text(files["routes.yaml"])


def test_settings_fixed_at_start_are_said_to_need_a_restart(spawn, backend, tmp_path):
    """Log targets, worker count and the admin address are kept as the process started: a reload
    that changes them says so (an operator turning the transaction log on, an audit trail, saw it
    reported as changed and nothing written)."""
    s, files = own_sluice(spawn, backend)
    gateway = s.policy_dir / "gateway.yaml"
    gateway.write_text(gateway.read_text().replace("access_log: stdout", f"access_log: {tmp_path / 'access.log'}"))
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"reload: server\.access_log: applied on restart only \(not now\)", stream="stderr", timeout=5)
    assert curl(s.url + "/echo/after").status == 200


def test_sighup_with_good_file_switches_routes(spawn, backend):
    s, files = own_sluice(spawn, backend)
    assert curl(s.url + "/added/x").status == 404
    (s.policy_dir / "routes.yaml").write_text(files["routes.yaml"] + EXTRA_ROUTE)
    s.proc.signal(signal.SIGHUP)
    assert wait_status(s.url + "/added/x", 200) == 200, "the added route did not answer within 5 s"
    assert curl(s.url + "/echo/still").status == 200
    assert s.proc.alive()


def test_sigterm_finishes_in_flight_requests(spawn, backend):
    s, _ = own_sluice(spawn, backend)
    n = 20
    results: list = [None] * n
    conns = [Conn(s.port, timeout=10) for _ in range(n)]

    def one(i):
        try:
            r = conns[i].request("GET", f"/echo/drain/{i}", {"x-demo-delay-ms": "500"})
            # Answered in the drain: the client is told not to send another request here.
            results[i] = (r.status, r.header("connection"))
        except Exception as e:  # noqa: BLE001 - recorded and asserted below
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # all 20 sent and waiting on the backend's 500 ms
    t0 = time.monotonic()
    s.proc.signal(signal.SIGTERM)
    for t in threads:
        t.join(10)
    for c in conns:
        c.close()
    code = s.proc.wait_exit(10)
    assert results == [(200, "close")] * n, results
    assert code == 0, f"sluice exited with {code} after SIGTERM"
    assert time.monotonic() - t0 < 6, "drain took longer than drain_timeout (5 s) + 1 s"


def test_sigterm_serves_the_next_request_of_a_busy_keepalive_connection(spawn, backend):
    """A keep-alive connection in use is not closed under its client at SIGTERM: its next request,
    sent just after the drain began, is answered (with Connection: close), where a close at once
    would leave a payment client with an EOF and no way to know the call never ran. A connection
    left idle still closes soon, and the drain ends."""
    s, _ = own_sluice(spawn, backend)
    busy, idle = Conn(s.port, timeout=5), Conn(s.port, timeout=5)
    try:
        assert idle.request("GET", "/echo/idle").status == 200
        assert busy.request("GET", "/echo/busy/1").status == 200
        time.sleep(0.4)  # this connection's gap between requests: ~0.4 s
        assert busy.request("GET", "/echo/busy/2").status == 200
        t0 = time.monotonic()
        s.proc.signal(signal.SIGTERM)
        s.proc.wait_for_output(r"^sluice: draining", timeout=5, stream="stderr")
        last = busy.request("GET", "/echo/busy/3")
        assert (last.status, last.header("connection")) == (200, "close"), last
        assert busy.closed_by_peer(2.0), "the connection stayed open after its Connection: close response"
        # The idle one (no gap seen: 100 ms of grace) is closed without a response.
        assert idle.closed_by_peer(2.0), "an idle keep-alive connection stayed open in the drain"
        code = s.proc.wait_exit(5)
        assert code == 0, f"sluice exited with {code} after SIGTERM"
        assert time.monotonic() - t0 < 3, "the drain waited on idle connections for more than their grace"
    finally:
        busy.close()
        idle.close()


def test_sigusr1_reopens_a_rotated_access_log_and_sigusr2_ends_nothing(spawn, backend, tmp_path):
    """logrotate's way: the file is moved away, SIGUSR1, and new lines go to a new file at the
    path. SIGUSR2 (whose default action ends a process) is ignored: a request in flight finishes."""
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    log = tmp_path / "access.log"
    files["gateway.yaml"] = files["gateway.yaml"].replace("access_log: stdout", f"access_log: {log}")
    s = spawn.sluice(files, port)

    def lines(path, timeout=3.0):
        deadline = time.monotonic() + timeout  # the access log is flushed every 200 ms
        while time.monotonic() < deadline:
            text = path.read_text() if path.exists() else ""
            if text:
                return text
            time.sleep(0.05)
        return ""

    assert curl(s.url + "/echo/before-rotation").status == 200
    assert "/echo/before-rotation" in lines(log)
    log.rename(tmp_path / "access.log.1")
    s.proc.signal(signal.SIGUSR1)
    s.proc.wait_for_output(r"reopened access log", timeout=5, stream="stderr")
    assert curl(s.url + "/echo/after-rotation").status == 200
    assert "/echo/after-rotation" in lines(log), "nothing reached the new file at the log's path"
    assert "/echo/after-rotation" not in (tmp_path / "access.log.1").read_text()

    result: list = []
    slow = threading.Thread(target=lambda: result.append(curl(s.url + "/echo/slow", "-H", "x-demo-delay-ms: 500").status))
    slow.start()
    time.sleep(0.1)
    s.proc.signal(signal.SIGUSR2)
    slow.join(5)
    assert result == [200] and s.proc.alive(), (result, s.proc.describe())


def test_sigint_during_a_drain_stops_without_waiting(spawn, backend):
    s, _ = own_sluice(spawn, backend)
    conn = Conn(s.port, timeout=10)
    try:
        conn.send(b"GET /echo/long HTTP/1.1\r\nHost: x\r\nx-demo-delay-ms: 8000\r\n\r\n")
        time.sleep(0.2)
        s.proc.signal(signal.SIGTERM)
        s.proc.wait_for_output(r"^sluice: draining", timeout=5, stream="stderr")
        t0 = time.monotonic()
        s.proc.signal(signal.SIGINT)
        assert s.proc.wait_exit(3) is not None, "SIGINT did not end the drain (drain_timeout is 5 s)"
        assert time.monotonic() - t0 < 2
    finally:
        conn.close()


def test_file_changes_are_seen_after_the_policy_directory_is_replaced(spawn, backend, tmp_path):
    """Deploys replace the policy directory rather than edit it: a symlink swapped to a new
    release (`ln -sfn r2 cur.tmp && mv -T cur.tmp current`), or `rm -rf p && mv p.new p`. The
    watch on the old directory heard nothing after that, and no later edit was ever seen."""
    import os
    import shutil

    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    with_added = dict(files, **{"routes.yaml": files["routes.yaml"] + EXTRA_ROUTE})
    write_policy(tmp_path / "r1", files)
    write_policy(tmp_path / "r2", with_added)
    (tmp_path / "current").symlink_to(tmp_path / "r1")
    s = start_sluice(tmp_path / "current", port, spawn.logdir)
    try:
        assert curl(s.url + "/added/x").status == 404
        (tmp_path / "current.tmp").symlink_to(tmp_path / "r2")
        os.replace(tmp_path / "current.tmp", tmp_path / "current")  # the symlink swap
        assert wait_status(s.url + "/added/x", 200) == 200, "the swapped symlink was not seen"
        (tmp_path / "r2" / "routes.yaml").write_text(files["routes.yaml"])  # an edit in the new target
        assert wait_status(s.url + "/added/x", 404) == 404, "an edit after the swap was not seen"
    finally:
        s.proc.stop()

    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    policy = write_policy(tmp_path / "p", files)
    s = start_sluice(policy, port, spawn.logdir)
    try:
        write_policy(tmp_path / "p.new", dict(files, **{"routes.yaml": files["routes.yaml"] + EXTRA_ROUTE}))
        shutil.rmtree(policy)
        os.rename(tmp_path / "p.new", policy)
        assert wait_status(s.url + "/added/x", 200) == 200, "the replaced directory was not seen"
        (policy / "routes.yaml").write_text(files["routes.yaml"])
        assert wait_status(s.url + "/added/x", 404) == 404, "an edit after the replacement was not seen"
    finally:
        s.proc.stop()


def reloads(s) -> int:
    return s.proc.stderr().count("policy reloaded (policy files changed)")


def test_the_file_watch_ignores_editor_debris_and_holds_a_reload_that_removes_a_payment_route(spawn, backend):
    """An editor's swap, backup and lock files reloaded the policy every few seconds while
    someone edited (each reload also reset what the gateway knew of its endpoints). And a routes
    file written in two steps was applied after the first when it broke between routes: the
    payment route answered 404 until the second. The watch now ignores files the policy is not
    made of, and holds a reload that removes a core route (SIGHUP applies it)."""
    s, files = own_sluice(spawn, backend)
    policy = s.policy_dir
    for name in [".routes.yaml.swp", "routes.yaml~", "#routes.yaml#", "routes.yaml.orig", "notes.txt"]:
        (policy / name).write_text("routes: []\n")
    (policy / "keys").mkdir()
    time.sleep(0.6)  # the directory made: a change (a new keys/ may hold what the policy names)
    settled = reloads(s)
    (policy / "keys" / ".secret.swp").write_text("x")
    (policy / "keys" / "secret~").write_text("x")
    time.sleep(1.0)
    assert reloads(s) == settled, s.proc.stderr()

    routes = policy / "routes.yaml"
    text = routes.read_text()
    cut = text.index("  - name: echo")
    routes.write_text(text[cut:].replace("routes:\n", ""))  # the first step: everything but pay
    routes.write_text("routes:\n" + text[cut:])
    s.proc.wait_for_output(r"reload \(policy files changed\) held, keeping policy generation \d+: it removes core route\(s\) pay",
                           stream="stderr", timeout=5)
    order = b'{"mchid":"1900000001","out_trade_no":"T-HELD-1","amount":{"total":1}}'
    with Conn(s.port) as c:
        assert c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json"}, order).status == 200
    routes.write_text(text)  # the second step: the whole file
    deadline = time.monotonic() + 5
    while reloads(s) == settled:
        assert time.monotonic() < deadline, s.proc.stderr()
        time.sleep(0.05)

    routes.write_text("routes:\n" + text[cut:])  # meant: SIGHUP applies it
    time.sleep(0.6)
    s.proc.signal(signal.SIGHUP)
    s.proc.wait_for_output(r"policy reloaded \(SIGHUP\)", stream="stderr", timeout=5)
    with Conn(s.port) as c:
        assert c.request("POST", "/v3/pay/transactions/jsapi", {"Content-Type": "application/json"}, order).status == 404
