"""`sluice diff` on a golden pair of policy directories (exact output: stable, sorted, formatting
and comments never count), and a reload logging the same summary."""
import signal
import subprocess
import time

from conftest import SLUICE, free_port, standard_policy

OLD = {
    "gateway.yaml": """\
server: {workers: 1, access_log: off}
listeners:
  - {name: public, address: 127.0.0.1:8080}
clusters:
  - {name: payments, endpoints: [127.0.0.1:9001]}
""",
    "routes.yaml": """\
routes:
  - {name: pay, class: core, match: {path: /pay}, cluster: payments, max_body: 64KiB}
  - {name: health, class: noncore, match: {path: /health}, cluster: payments}
""",
}
# The same policy reformatted, with comments, spread over other files, and three real changes.
NEW = {
    "a.yaml": """\
# workers now fixed
server:
  access_log: off
  workers: 2
listeners:
  - name: public
    address: 127.0.0.1:8080
""",
    "b.yaml": """\
clusters:
  - name: payments
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
routes:
  - name: pay
    match: {path: /pay}
    class: core        # unchanged
    cluster: payments
    max_body: 128KiB
  - {name: status, class: noncore, match: {path: /status}, cluster: payments}
""",
}
EXPECTED = """\
~ cluster payments: endpoints [127.0.0.1:9001] -> [127.0.0.1:9001, 127.0.0.1:9002]
- route health {class: noncore, cluster: payments, match: {path: /health}}
~ route pay: max_body 64KiB -> 128KiB
+ route status {class: noncore, cluster: payments, match: {path: /status}}
~ server: workers 1 -> 2
"""


def write(directory, files):
    directory.mkdir()
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def diff(a, b):
    return subprocess.run([str(SLUICE), "diff", str(a), str(b)], capture_output=True, text=True, timeout=20)


def test_a_golden_pair(tmp_path):
    old, new = write(tmp_path / "old", OLD), write(tmp_path / "new", NEW)
    out = diff(old, new)
    assert out.returncode == 0, out.stderr
    assert out.stdout == EXPECTED
    assert diff(old, old).stdout == "no changes\n"
    missing = diff(old, tmp_path / "nowhere")
    assert missing.returncode == 1 and "cannot read policy directory" in missing.stderr


def test_a_side_that_would_not_load_is_reported_and_nothing_is_compared(tmp_path):
    """A diff of a candidate a reload would refuse read as a change about to happen."""
    old = write(tmp_path / "old", OLD)
    broken = dict(OLD)
    broken["routes.yaml"] = OLD["routes.yaml"].replace("cluster: payments, max_body", "cluster: paymnets, max_body")
    new = write(tmp_path / "new", broken)
    out = diff(old, new)
    assert out.returncode == 1 and out.stdout == "", out
    assert f"the policy after ({new}) would not load" in out.stderr, out.stderr
    assert "routes.yaml:2:" in out.stderr and "paymnets" in out.stderr, out.stderr
    reverse = diff(new, old)
    assert reverse.returncode == 1 and f"the policy before ({new}) would not load" in reverse.stderr, reverse.stderr


def test_a_reload_logs_what_changed(spawn, backend):
    port = free_port()
    files = standard_policy(port, backend.port, free_port())
    s = spawn.sluice(files, port)
    routes = s.policy_dir / "routes.yaml"
    routes.write_text(routes.read_text().replace("max_body: 1KiB", "max_body: 2KiB"))
    s.proc.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "sluice: reload changed: ~ route small: max_body 1KiB -> 2KiB" not in s.proc.stderr():
        assert time.monotonic() < deadline, s.proc.stderr()
        time.sleep(0.05)
