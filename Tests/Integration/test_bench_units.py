"""The bench harness's pure pieces, without starting anything: the durations the load tools
take, target names, phase lengths, and bench/run's refusals that must come before any process
or temp dir."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from harness import scenario as scenarios  # noqa: E402
from harness.procs import BenchError  # noqa: E402


@pytest.mark.parametrize("given,expected", [("5", "5s"), (5, "5s"), ("5s", "5s"), ("1m", "60s"), (" 10s ", "10s")])
def test_load_tool_duration_takes_what_wrk_and_h2load_take(given, expected):
    assert scenarios.load_tool_duration(given, "--duration") == expected


@pytest.mark.parametrize("given", ["500ms", "1500ms", "1.5s", "0", "0s", "-1s", "5 s", "s", "", "5x"])
def test_load_tool_duration_refuses_what_wrk_refuses(given):
    with pytest.raises(BenchError, match=r"--duration must be whole seconds or minutes .*\(5, 5s, 1m\)"):
        scenarios.load_tool_duration(given, "--duration")


def test_warmup_may_be_zero():
    assert scenarios.load_tool_duration("0s", "--warmup", least=0) == "0s"


def test_unknown_target_names_the_known_ones():
    assert scenarios.check_targets(["sluice", "nginx"]) == ["sluice", "nginx"]
    with pytest.raises(BenchError, match="unknown target 'ngnix' .*known: sluice, nginx"):
        scenarios.check_targets(["sluice", "ngnix"])


@pytest.mark.parametrize("args,message", [
    (["--duration", "1500ms"], "--duration must be whole seconds"),
    (["--duration", "1.5s"], "--duration must be whole seconds"),
    (["--warmup", "500ms"], "--warmup must be whole seconds"),
    (["--targets", "sluice,ngnix"], "unknown target 'ngnix'"),
])
def test_bench_run_refuses_before_starting_anything(tmp_path, args, message):
    """A bad duration or target is refused at once: no process started, no temp dir made."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    for knob in ("BENCH_DURATION", "BENCH_WARMUP", "BENCH_TARGETS"):
        env.pop(knob, None)
    r = subprocess.run([sys.executable, str(REPO / "bench" / "run"), "h1-baseline", *args], env=env,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert "[bench] scenario" not in r.stderr  # the line that says things start
    assert glob.glob(str(tmp_path / "sluice-bench-*")) == []


def test_idle_fd_limit_counts_haproxy_only_when_it_runs():
    from harness import idle
    assert idle.fds_needed(10_000, haproxy=False) == 10_000 + idle.SPARE_FDS
    assert idle.fds_needed(10_000, haproxy=True) == 2 * idle.haproxy_maxconn(10_000) + 256


def test_idle_fd_limit_failure_leaves_no_temp_dir(tmp_path):
    """More idle connections than the kernel's nr_open allows: refused before the temp dir."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "SLUICE_BIN_DIR": str(REPO / ".build" / "release")}
    env.pop("BENCH_TARGETS", None)
    r = subprocess.run([sys.executable, str(REPO / "bench" / "run"), "idle-h1", "--idle-connections", "2000000",
                        "--targets", "sluice,nginx"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "need an open-file limit of 2004096;" in r.stderr, r.stderr
    assert "HAProxy" not in r.stderr  # not among the targets: its two fds per connection are not counted
    assert glob.glob(str(tmp_path / "sluice-bench-*")) == []
