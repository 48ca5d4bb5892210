"""`sluice check`, `sluice version`, and what `sluice run` refuses at start-up."""
import re
import subprocess

import pytest

from conftest import SLUICE, STANDARD_COUNTS, free_port, standard_policy, write_policy
from curlclient import curl


def check(directory):
    return subprocess.run([str(SLUICE), "check", str(directory)], capture_output=True, text=True,
                          timeout=20)


def test_check_good_policy(binaries, tmp_path):
    d = write_policy(tmp_path / "p", standard_policy(free_port(), free_port(), free_port()))
    r = check(d)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == STANDARD_COUNTS


def test_check_bundled_policies(binaries):
    from conftest import REPO
    r = check(REPO / "policies")
    assert r.returncode == 0, r.stderr
    assert re.fullmatch(r"ok: \d+ listeners, \d+ clusters, \d+ routes", r.stdout.strip()), r.stdout
    # `--policy DIR`, as `sluice run` takes it (it was "Unknown option '--policy'").
    flagged = subprocess.run([str(SLUICE), "check", "--policy", str(REPO / "policies")], capture_output=True, text=True, timeout=20)
    assert flagged.returncode == 0 and flagged.stdout == r.stdout, flagged.stderr
    both = subprocess.run([str(SLUICE), "check", "--policy", "a", "b"], capture_output=True, text=True, timeout=20)
    assert both.returncode != 0 and "give the directory once" in both.stderr, both.stderr


# Each case breaks routes.yaml of the standard policy: (text, replacement, the text on the line
# the error must point at).
BROKEN = {
    # route `echo` names a cluster that does not exist
    "dangling-cluster": ("    cluster: demo\n    timeouts: {per_try: 5s, total: 10s}\n    max_body: 1MiB\n  - name: small",
                         "    cluster: nope\n    timeouts: {per_try: 5s, total: 10s}\n    max_body: 1MiB\n  - name: small",
                         "cluster: nope"),
    "unknown-key": ("    max_body: 1KiB\n", "    max_bodyy: 1KiB\n", "max_bodyy"),
    "bad-duration": ("timeouts: {per_try: 300ms,", "timeouts: {per_try: 300parsecs,", "300parsecs"),
    # a required key is missing: the error points at the route (its first line)
    "missing-class": ("  - name: dead\n    class: noncore\n", "  - name: dead\n", "name: dead"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_check_bad_policy_reports_file_line_column(binaries, tmp_path, case):
    old, new, anchor = BROKEN[case]
    files = standard_policy(free_port(), free_port(), free_port())
    assert files["routes.yaml"].count(old) == 1, "test fixture drifted from standard_policy"
    files["routes.yaml"] = files["routes.yaml"].replace(old, new)
    line = next(n for n, text in enumerate(files["routes.yaml"].splitlines(), 1) if anchor in text)
    d = write_policy(tmp_path / "p", files)
    r = check(d)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    m = re.search(r"routes\.yaml:(\d+):(\d+): (.+)", r.stderr)
    assert m, f"no file:line:column: message on stderr:\n{r.stderr}"
    assert int(m.group(1)) == line, f"{case}: expected line {line}:\n{r.stderr}"
    assert int(m.group(2)) >= 1
    word = anchor.split()[-1] if case != "missing-class" else "class"
    assert word in m.group(3), f"{case}: the message does not name {word!r}:\n{r.stderr}"


def test_check_reports_thread_pool_mistakes_at_their_lines(binaries, tmp_path):
    """`thread_pools` settings out of range, and a guard naming a pool nobody declared."""
    files = standard_policy(free_port(), free_port(), free_port())
    files["pools.yaml"] = "thread_pools:\n  - {name: rsa, threads: 0, queue: 8, colour: blue}\n"
    r = check(write_policy(tmp_path / "bad", files))
    assert r.returncode == 1
    line = files["pools.yaml"].splitlines()[1]
    assert f"pools.yaml:2:{line.index('0,') + 1}: threads must be 1 to 64" in r.stderr, r.stderr
    assert f"pools.yaml:2:{line.index('colour') + 1}: unknown key 'colour'" in r.stderr, r.stderr

    files["pools.yaml"] = "thread_pools:\n  - {name: rsa, threads: 2}\nvalidations:\n  - {name: big, offload: {pool: rssa}, fields: {id: {type: string}}}\n"
    files["routes.yaml"] = files["routes.yaml"].replace("    match: {prefix: /echo}\n    cluster: demo\n",
                                                        "    match: {prefix: /echo}\n    cluster: demo\n    validation: big\n")
    r = check(write_policy(tmp_path / "unknown", files))
    assert r.returncode == 1
    line = files["pools.yaml"].splitlines()[3]
    assert f"pools.yaml:4:{line.index('rssa') + 1}: offload pool 'rssa' of validation 'big' is not a thread pool" in r.stderr, r.stderr


def test_version_names_the_libraries(binaries):
    r = subprocess.run([str(SLUICE), "version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0
    out = r.stdout.lower()
    for lib in ("sluice", "openssl", "nghttp2", "hiredis"):
        assert lib in out, r.stdout


def test_a_second_sluice_cannot_share_the_listening_port(spawn, backend, tmp_path):
    """Loops share a listener's port through SO_REUSEPORT; a second `sluice run` on the same
    address (a mistake, or an old one left running) must not join them and silently take part of
    the traffic with its own policy: it exits with the address in its error, and the first one
    keeps serving."""
    port = free_port()
    first = spawn.sluice(standard_policy(port, backend.port, free_port()), port)
    second_policy = write_policy(tmp_path / "second", standard_policy(port, backend.port, free_port()))
    second = subprocess.run([str(SLUICE), "run", "--policy", str(second_policy)], capture_output=True, text=True,
                            timeout=20)
    assert second.returncode == 1, second.stdout + second.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    assert "Address already in use" in second.stderr
    assert first.proc.alive()
    assert curl(first.url + "/echo/x").status == 200


def test_check_refuses_a_merchant_cap_for_a_merchant_no_auth_scheme_knows(binaries, tmp_path):
    """A per-merchant amount cap naming an id with a typo (`19000000001`) never applied: the
    merchant's orders went through up to the global maximum. The bundled policy, with such a cap:
    refused at the id's line; with the demo merchant's id: ok."""
    import shutil
    from conftest import REPO
    policy = tmp_path / "p"
    shutil.copytree(REPO / "policies", policy)
    validations = policy / "validations.yaml"
    text = validations.read_text()
    line = "      amount.total: {required: true, type: integer, min: 1, max: 100000000}"
    assert line in text
    validations.write_text(text.replace(line, line[:-1] + ', max_per_merchant: {"19000000001": 500}}'))
    r = check(policy)
    assert r.returncode == 1, r.stdout
    assert re.search(r"validations\.yaml:15:\d+: max_per_merchant names merchant '19000000001', which no auth scheme verifies",
                     r.stderr), r.stderr
    validations.write_text(text.replace(line, line[:-1] + ', max_per_merchant: {"1900000001": 500}}'))
    assert check(policy).returncode == 0


def _bundled_copy(tmp_path):
    import shutil
    from conftest import REPO
    policy = tmp_path / "p"
    shutil.copytree(REPO / "policies", policy)
    return policy


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


HEALTH_ROUTE = "    timeouts: {per_try: 1s, total: 1s}\n    max_body: 0"


@pytest.mark.parametrize("added, what", [
    # every client would share the one `-` counter of a merchant-keyed limit
    ("    limits: [query-per-merchant]", r"limit rule 'query-per-merchant' is keyed by merchant"),
    # every body would be refused (no merchant to compare mchid with)
    ("    validation: wechat-v3-refund", r"validation 'wechat-v3-refund' requires mchid to be the verified merchant"),
])
def test_check_refuses_merchant_checks_on_a_route_that_verifies_no_merchant(binaries, tmp_path, added, what):
    """An operator put a per-merchant limit (or a merchant-bound validation) on a route without
    auth: `check` said ok, and then every client shared one bucket (or every order was refused).
    Now it is an error at the route's reference; on a route with merchant auth it stays ok."""
    policy = _bundled_copy(tmp_path)
    routes = policy / "routes.yaml"
    _edit(routes, HEALTH_ROUTE, HEALTH_ROUTE + "\n" + added)
    r = check(policy)
    assert r.returncode == 1, r.stdout
    lines = routes.read_text().splitlines()
    line = len(lines) - lines[::-1].index(added)   # the health route is the last
    assert re.search(rf"routes\.yaml:{line}:\d+: route 'health' verifies no merchant .*{what}", r.stderr), r.stderr
    # The callback scheme verifies WeChat, not a merchant: the same there.
    _edit(routes, HEALTH_ROUTE + "\n" + added, HEALTH_ROUTE + "\n    auth: [wechatpay_callback]\n" + added)
    r = check(policy)
    assert r.returncode == 1 and "route 'health' verifies no merchant" in r.stderr, r.stderr
    _edit(routes, "auth: [wechatpay_callback]", "auth: [merchant_hmac]")
    r = check(policy)
    assert r.returncode == 0, r.stderr


def test_check_refuses_an_alert_on_a_breaker_that_does_not_exist(binaries, tmp_path):
    """An alert watching a misspelt breaker was taken and could never fire: the payments
    breaker opened and nobody was told. Now an error at the name; the right name is ok."""
    policy = _bundled_copy(tmp_path)
    admin = policy / "admin.yaml"
    _edit(admin, "breaker_open: payments}", "breaker_open: payment}")
    r = check(policy)
    assert r.returncode == 1, r.stdout
    line = next(i for i, text in enumerate(admin.read_text().splitlines(), 1) if "breaker_open: payment}" in text)
    assert re.search(rf"admin\.yaml:{line}:\d+: alert 'payments-breaker-open' watches unknown breaker 'payment' "
                     r"\(it could never fire; breakers: payments\)", r.stderr), r.stderr
    _edit(admin, "breaker_open: payment}", "breaker_open: payments}")
    assert check(policy).returncode == 0


def test_check_refuses_an_admin_listener_on_every_interface_unless_said(binaries, tmp_path):
    """`admin.address: 0.0.0.0:9901` passed check: metrics, state and policy, which need no
    token, were open on the interface clients reach. Now an error unless all_interfaces: true."""
    policy = _bundled_copy(tmp_path)
    admin = policy / "admin.yaml"
    _edit(admin, "address: 127.0.0.1:9901", "address: 0.0.0.0:9901")
    r = check(policy)
    assert r.returncode == 1, r.stdout
    assert re.search(r"admin\.yaml:7:\d+: admin address 0\.0\.0\.0:9901 is every interface: .*set all_interfaces: true",
                     r.stderr), r.stderr
    for spelling in ("[::]", "[0::]", "[::0]", "[0:0:0:0:0:0:0:0]"):   # every interface, however spelt
        _edit(admin, "address: 0.0.0.0:9901", f"address: '{spelling}:9901'")
        r = check(policy)
        assert r.returncode == 1 and "is every interface" in r.stderr, (spelling, r.stderr)
        _edit(admin, f"address: '{spelling}:9901'", "address: 0.0.0.0:9901")
    _edit(admin, "address: 0.0.0.0:9901", "address: 0.0.0.0:9901\n  all_interfaces: true")
    assert check(policy).returncode == 0
    _edit(admin, "address: 0.0.0.0:9901", "address: 10.0.0.5:9901")   # a management address: as written
    assert check(policy).returncode == 0, check(policy).stderr


def test_sign_reads_a_body_and_a_key_from_a_pipe_and_names_why_a_file_cannot_be_read(binaries, tmp_path):
    """`--body-file /dev/stdin` and `--key-file <(...)` said "cannot read" (with a usage text and
    exit 64, as if the arguments were wrong); a file that is missing did not say why."""
    from conftest import REPO
    key = REPO / "policies" / "keys" / "1900000001.hmac"
    body = b'{"mchid":"1900000001","out_trade_no":"T-PIPE-1","amount":{"total":1}}'
    (tmp_path / "body.json").write_bytes(body)
    common = ["--merchant", "1900000001", "--method", "POST", "--path", "/v3/pay/transactions/jsapi",
              "--timestamp", "1700000000", "--nonce", "abcdefghijklmnop"]
    from_file = subprocess.run([str(SLUICE), "sign", "--key-file", str(key), *common, "--body-file", str(tmp_path / "body.json")],
                               capture_output=True, timeout=20)
    assert from_file.returncode == 0, from_file.stderr
    from_pipe = subprocess.run(f"cat {key} | {SLUICE} sign --key-file /dev/stdin {' '.join(common)} --body-file {tmp_path / 'body.json'}",
                               shell=True, capture_output=True, timeout=20)
    assert from_pipe.returncode == 0 and from_pipe.stdout == from_file.stdout, from_pipe.stderr
    body_pipe = subprocess.run([str(SLUICE), "sign", "--key-file", str(key), *common, "--body-file", "/dev/stdin"],
                               input=body, capture_output=True, timeout=20)
    assert body_pipe.returncode == 0 and body_pipe.stdout == from_file.stdout, body_pipe.stderr
    missing = subprocess.run([str(SLUICE), "sign", "--key-file", str(tmp_path / "nope.hmac"), *common],
                             capture_output=True, text=True, timeout=20)
    assert missing.returncode == 1, missing
    assert "cannot read key file" in missing.stderr and "No such file or directory" in missing.stderr, missing.stderr
    assert "Usage" not in missing.stderr, missing.stderr


def test_check_names_the_file_and_the_reason_of_an_unreadable_admin_token(binaries, tmp_path):
    """Said as `cannot read admin token file 'keys/nope.token'` (the name as written, no reason)
    where every other file error gives the full path and the system's reason."""
    files = standard_policy(free_port(), free_port(), free_port())
    files["admin.yaml"] = f"admin: {{address: 127.0.0.1:{free_port()}, token_file: keys/nope.token}}\n"
    d = write_policy(tmp_path / "p", files)
    r = check(d)
    assert r.returncode == 1, r
    assert re.search(r"admin\.yaml:1:\d+: cannot read admin token file /\S+/keys/nope\.token: No such file or directory", r.stderr), r.stderr
