"""A sluice process under valgrind's callgrind, and what its dumps say: instructions and malloc
calls over a stretch of load. Deterministic where req/s and CPU time on a shared 2-core machine
move by 10% (bench/instructions, bench/validation part 3)."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

from .procs import BenchError, Proc
from .targets import tool


def require_valgrind() -> None:
    if not shutil.which("valgrind"):
        raise BenchError("bench: valgrind not found (`make deps` installs it)")


def start(name: str, sluice_binary: Path, policy: Path, port: int, work: Path) -> Proc:
    """sluice under callgrind. Valgrind cannot read the toolchain's DWARF 5, so a copy of the
    binary without its debug sections is run (its symbols stay)."""
    binary = work / "sluice-stripped"
    if not binary.exists():
        shutil.copy(sluice_binary, binary)
        subprocess.run(["strip", "-g", str(binary)], check=True)
    process = Proc(name, [tool("valgrind"), "--tool=callgrind", f"--callgrind-out-file={work}/callgrind.{name}.out",
                          str(binary), "run", "--policy", str(policy)], work)
    process.wait_line(rf"^sluice: listening on 127\.0\.0\.1:{port} ", timeout=120)
    return process


def measure(process: Proc, name: str, work: Path, load, keep: Path | None = None) -> tuple[int, int]:
    """Zeroes the counters, runs `load()`, dumps: (instructions, malloc calls) in between. With
    `keep`, the dump is copied there too (for callgrind_annotate)."""
    subprocess.run(["callgrind_control", "--zero", str(process.pid)], check=True, capture_output=True)
    load()
    before = set(work.glob(f"callgrind.{name}.out.*"))
    subprocess.run(["callgrind_control", "--dump", str(process.pid)], check=True, capture_output=True)
    deadline = time.time() + 30
    while not (set(work.glob(f"callgrind.{name}.out.*")) - before) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # the dump is written in pieces
    dumps = sorted(set(work.glob(f"callgrind.{name}.out.*")) - before)
    if not dumps:
        raise BenchError("bench: callgrind wrote no dump")
    if keep is not None:
        keep.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dumps[-1], keep)
    return totals(dumps[-1]), malloc_calls(dumps[-1])


def totals(dump: Path) -> int:
    for line in dump.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise BenchError(f"bench: no totals in {dump}")


def malloc_calls(dump: Path) -> int:
    """Calls of libc's malloc, calloc and realloc in a dump (the `calls=` lines under their cfn)."""
    calls, target = 0, False
    names: dict[str, str] = {}  # callgrind names a function once, by `fn=` or `cfn=`, then by id
    for line in dump.read_text(errors="replace").splitlines():
        match = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
        if match:
            if match.group(3):
                names[match.group(2)] = match.group(3)
            target = match.group(1) == "c" and names.get(match.group(2), "") in ("malloc", "calloc", "realloc")
            continue
        if target and line.startswith("calls="):
            calls += int(line.split("=")[1].split()[0])
            target = False
    return calls
