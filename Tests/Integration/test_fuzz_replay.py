"""The kept fuzz inputs (Tests/Fuzz/corpus: seeds and every crash `make fuzz` found) replayed
through the normal-build fuzz targets: each must pass its target's invariants."""
import subprocess

import pytest

from conftest import BIN_DIR, REPO

CORPUS = REPO / "Tests" / "Fuzz" / "corpus"


@pytest.mark.parametrize("target", ["http1", "http2", "policy"])
def test_fuzz_corpus_replays(target):
    binary = BIN_DIR / f"sluice-fuzz-{target}"
    assert binary.exists(), f"{binary} missing: run `swift build -c release`"
    inputs = [p for p in (CORPUS / target).rglob("*")
              if p.is_file() and not p.name.startswith(".") and not p.name.startswith("README")]
    assert len(inputs) >= 10, f"corpus for {target} has {len(inputs)} inputs"
    r = subprocess.run([str(binary), str(CORPUS / target)], capture_output=True, text=True, timeout=300)
    last = r.stderr.strip().splitlines()[-5:]
    assert r.returncode == 0, f"replay failed (exit {r.returncode}):\n" + "\n".join(last)
    assert r.stdout.strip() == f"sluice-fuzz-{target}: {len(inputs)} inputs replayed, all passed"
