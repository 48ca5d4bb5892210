"""50 MiB up and down through sluice: the bytes arrive intact and sluice's memory stays flat."""
import json
import os
import subprocess

import pytest

from curlclient import download_sha256, fnv1a64, upload

SIZE = 50 * 1024 * 1024
RSS_BUDGET_KIB = 64 * 1024  # peak RSS may grow at most this much over start-up RSS


@pytest.fixture(scope="module")
def startup_rss(sluice):
    return sluice.rss_kib("VmRSS")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "body.bin"
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        for i in range(SIZE // len(block)):
            f.write(bytes([i & 0xFF]) + block[1:])  # 50 distinct blocks
    return path


def test_backend_checksum_oracle(backend):
    """The backend's FNV-1a 64 is right (it serves as the oracle for the big upload)."""
    body = bytes(range(256)) * 8
    out = subprocess.run(["curl", "-sS", "--max-time", "10", "--data-binary", "@-",
                          backend.url + "/upload"], input=body, capture_output=True, timeout=15)
    got = json.loads(out.stdout)
    assert got == {"bytes": len(body), "fnv1a64": fnv1a64(body)}


def test_50mib_upload_streams(sluice, backend, big_file, startup_rss):
    direct = upload(backend.url, big_file)
    assert direct["bytes"] == SIZE
    proxied = upload(sluice.url, big_file)
    assert proxied == direct
    grown = sluice.rss_kib("VmHWM") - startup_rss
    assert grown < RSS_BUDGET_KIB, f"sluice peak RSS grew {grown // 1024} MiB during a 50 MiB upload"


def test_50mib_download_streams(sluice, backend, startup_rss):
    direct = download_sha256(backend.url, SIZE)
    assert direct[0] == SIZE
    assert download_sha256(sluice.url, SIZE) == direct
    grown = sluice.rss_kib("VmHWM") - startup_rss
    assert grown < RSS_BUDGET_KIB, f"sluice peak RSS grew {grown // 1024} MiB during a 50 MiB download"
