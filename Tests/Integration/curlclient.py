"""curl as a client, the way a user would call the proxy, and small helpers shared by tests."""
from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from dataclasses import dataclass


@dataclass
class CurlResult:
    status: int
    headers: dict[str, str]      # last response's headers, lower-case names
    body: bytes
    verbose: str                 # curl -v output (stderr): shows interim responses

    def json(self):
        return json.loads(self.body)


def curl(url: str, *args: str, timeout: float = 15.0) -> CurlResult:
    """Runs `curl -sv` with a hard --max-time; the body comes back from stdout."""
    with tempfile.NamedTemporaryFile(prefix="curl-head-") as head:
        proc = subprocess.run(
            ["curl", "-sS", "-v", "--max-time", str(timeout), "-D", head.name, *args, url],
            capture_output=True, timeout=timeout + 5)
        dumped = open(head.name, "rb").read().decode("latin-1")
    verbose = proc.stderr.decode("latin-1")
    if proc.returncode != 0:
        raise AssertionError(f"curl exited {proc.returncode}: {verbose[-2000:]}")
    # -D writes every response head (interim 100 ones too); the last one is the final response.
    blocks = [b for b in dumped.split("\r\n\r\n") if b.lstrip().startswith("HTTP/")]
    if not blocks:
        raise AssertionError(f"curl got no response head: {verbose[-2000:]}")
    last = blocks[-1].strip().split("\r\n")
    status = int(last[0].split()[1])
    headers = {}
    for line in last[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return CurlResult(status, headers, proc.stdout, verbose)


def upload(url: str, path, *args: str) -> dict:
    """POSTs the file at `path` to `url`/upload with curl (extra curl `args`, e.g. for HTTP/2);
    the backend's answer: {"bytes": n, "fnv1a64": "..."}."""
    out = subprocess.run(["curl", "-sS", "--max-time", "60", *args, "-H", "Expect:",
                          "-H", "Content-Type: application/octet-stream",
                          "--data-binary", f"@{path}", url + "/upload"],
                         capture_output=True, timeout=70)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def download_sha256(url: str, n: int, *args: str) -> tuple[int, str]:
    """GETs `url`/download?bytes=n with curl, streaming: (bytes received, their SHA-256)."""
    proc = subprocess.Popen(["curl", "-sS", "--max-time", "60", *args, f"{url}/download?bytes={n}"],
                            stdout=subprocess.PIPE)
    h, total = hashlib.sha256(), 0
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
        h.update(chunk)
        total += len(chunk)
    assert proc.wait(70) == 0
    return total, h.hexdigest()


FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3


def fnv1a64(data: bytes) -> str:
    """FNV-1a 64 as 16 lower-case hex digits (slow in Python: use on small bodies only)."""
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"
