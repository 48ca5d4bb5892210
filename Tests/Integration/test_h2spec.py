"""HTTP/2 conformance: h2spec 2.0.0 (../shared/tools/h2spec, 146 cases) against sluice, over TLS
(ALPN h2) and over cleartext with prior knowledge (`protocol: http2`). Any failing case fails the
test, with h2spec's own report of it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

from conftest import REPO, free_port, standard_policy, start_sluice, write_policy

# ../shared/tools/h2spec beside the checkout (every session and CI has it); H2SPEC overrides.
H2SPEC_CANDIDATES = [os.environ.get("H2SPEC", ""), str(REPO.parent / "shared" / "tools" / "h2spec"),
                     "/work/shared/tools/h2spec", shutil.which("h2spec") or ""]
MAKE_CERTS = REPO / "Tests" / "Support" / "make-test-certs.sh"
CASES = 146


def run_h2spec(port: int, *tls: str) -> str:
    h2spec = next((c for c in H2SPEC_CANDIDATES if c and os.access(c, os.X_OK)), None)
    assert h2spec, f"h2spec not found (looked at {H2SPEC_CANDIDATES}); set H2SPEC"
    result = subprocess.run([h2spec, "-h", "127.0.0.1", "-p", str(port), "-o", "2", *tls, "-P", "/echo/h2spec"],
                            capture_output=True, text=True, timeout=300)
    return result.stdout + result.stderr


def assert_all_pass(report: str) -> None:
    summary = re.search(r"(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed", report)
    assert summary, report[-3000:]
    total, passed, skipped, failed = map(int, summary.groups())
    failures = report[report.find("Failures:"):] if "Failures:" in report else ""
    assert (total, passed, failed, skipped) == (CASES, CASES, 0, 0), failures or report[-3000:]


def test_h2spec_over_h2c_prior_knowledge(spawn):
    port = free_port()
    backend = spawn.backend()
    s = spawn.sluice(standard_policy(port, backend.port, free_port(), protocol="http2"), port)
    assert_all_pass(run_h2spec(port))
    assert s.proc.alive(), s.proc.describe()


def test_h2spec_over_tls(spawn, tmp_path):
    certs = tmp_path / "certs"
    subprocess.run(["/bin/sh", str(MAKE_CERTS), str(certs)], check=True, timeout=60)
    port = free_port()
    backend = spawn.backend()
    files = standard_policy(port, backend.port, free_port())
    files["gateway.yaml"] = files["gateway.yaml"].replace(
        "max_uri_bytes: 8KiB}", "max_uri_bytes: 8KiB, tls: {certificate: certs/gateway.pem, key: certs/gateway.key}}")
    policy = write_policy(tmp_path / "policy", files)
    shutil.copytree(certs, policy / "certs")
    s = start_sluice(policy, port, tmp_path / "logs")
    try:
        assert_all_pass(run_h2spec(port, "-t", "-k"))
        assert s.proc.alive(), s.proc.describe()
    finally:
        s.proc.stop()
