"""TLS posture from the outside: Debian's testssl.sh against a TLS listener with Sluice's default
TLS settings (no `min_version`, `ciphers` or `alpn` given). It must report no weak protocol, no
weak cipher and no known vulnerability. Findings about the throwaway test certificate itself
(a private CA, two days of validity, no CRL/OCSP, no DNS CAA record) are about the certificate an
operator brings, not about Sluice, and are left out."""
from __future__ import annotations

import json
import shutil
import subprocess

from conftest import REPO, free_port, start_sluice, write_policy

MAKE_CERTS = REPO / "Tests" / "Support" / "make-test-certs.sh"
# Severities testssl gives findings that need attention.
BAD = {"LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN"}
# Findings about the test certificate and DNS, not about how Sluice speaks TLS.
CERTIFICATE_FINDINGS = ("cert_", "DNS_CAArecord", "intermediate_cert")


def test_testssl_reports_no_weak_protocol_cipher_or_vulnerability(tmp_path, backend):
    testssl = shutil.which("testssl") or shutil.which("testssl.sh")
    assert testssl, "testssl.sh not installed (make deps installs Debian's testssl.sh)"
    certs = tmp_path / "certs"
    subprocess.run(["/bin/sh", str(MAKE_CERTS), str(certs)], check=True, timeout=60)
    port = free_port()
    policy = write_policy(tmp_path / "policy", {"gateway.yaml": f"""\
server: {{workers: 1, access_log: off}}
listeners:
  - name: secure
    address: 127.0.0.1:{port}
    tls: {{certificate: certs/gateway.pem, key: certs/gateway.key}}
clusters:
  - {{name: demo, endpoints: [127.0.0.1:{backend.port}]}}
routes:
  - {{name: all, class: noncore, match: {{prefix: /}}, cluster: demo}}
"""})
    shutil.copytree(certs, policy / "certs")
    s = start_sluice(policy, port, tmp_path / "logs", listeners=("secure",))
    report = tmp_path / "testssl.json"
    try:
        # A check testssl could not carry out (its own connection failed, on a loaded machine)
        # is a WARN about testssl, not about the server: such a run is repeated, at most twice.
        for attempt in range(3):
            report.unlink(missing_ok=True)
            run = subprocess.run([testssl, "--quiet", "--color", "0", "--warnings", "off", "--jsonfile", str(report),
                                  "--protocols", "--std", "--server-preference", "--server-defaults", "--vulnerable",
                                  f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=240)
            assert report.exists(), run.stdout[-3000:] + run.stderr[-2000:]
            findings = json.loads(report.read_text())
            bad = [f"{f['severity']} {f['id']}: {f['finding']}" for f in findings
                   if f["severity"] in BAD and not f["id"].startswith(CERTIFICATE_FINDINGS)]
            if not bad or not all(line.startswith("WARN") and "connect problem" in line for line in bad):
                break
        ids = {f["id"] for f in findings}
        # The run really covered protocols, ciphers and vulnerabilities.
        for expected in ("SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "cipherlist_NULL", "cipherlist_3DES_IDEA",
                         "heartbleed", "ROBOT", "BEAST", "LUCKY13", "RC4", "secure_client_renego"):
            assert expected in ids, f"testssl did not report {expected}: {sorted(ids)}"
        assert not bad, "\n".join(bad)
        offered = {f["id"]: f["finding"] for f in findings if f["id"] in ("TLS1", "TLS1_1", "TLS1_2", "TLS1_3")}
        assert offered["TLS1"].startswith("not offered") and offered["TLS1_1"].startswith("not offered"), offered
        assert offered["TLS1_2"].startswith("offered") and offered["TLS1_3"].startswith("offered"), offered
        assert s.proc.alive(), s.proc.describe()
    finally:
        s.proc.stop()
