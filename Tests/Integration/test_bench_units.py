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


def phases_of(*percents: int) -> list[dict]:
    out, at = [], 0
    for p in percents:
        out.append({"name": f"p{len(out)}", "at": at / 100, "until": (at + p) / 100})
        at += p
    return out


@pytest.mark.parametrize("percents,total,expected", [
    ((40, 30, 30), 5, [2, 2, 1]),    # was 2, 1, 2 (healthy 2 s, slow 1 s) and 2+2+2 = 6 s for a 5 s run
    ((40, 30, 30), 6, [2, 2, 2]),
    ((40, 30, 30), 10, [4, 3, 3]),
    ((40, 30, 30), 3, [1, 1, 1]),
    ((30, 40, 30), 10, [3, 4, 3]),   # backend-fail
    ((30, 40, 30), 5, [2, 2, 1]),
    ((50, 50), 3, [2, 1]),           # a tie: the earlier phase
    ((90, 5, 5), 3, [1, 1, 1]),      # at least 1 s each, taken from the longest
    ((25, 25, 25, 25), 8, [2, 2, 2, 2]),
])
def test_phase_seconds_add_up_and_split_equal_shares_equally(percents, total, expected):
    got = scenarios.phase_seconds(phases_of(*percents), total)
    assert got == expected and sum(got) == total


def test_phase_seconds_need_a_second_each():
    with pytest.raises(BenchError, match="3 phases need a duration of at least 3 s"):
        scenarios.phase_seconds(phases_of(40, 30, 30), 2)


def test_phase_seconds_of_the_bundled_scenarios_add_up():
    for name in ("backend-slow", "backend-fail"):
        sc = scenarios.load(REPO / "bench" / "scenarios" / f"{name}.yaml")
        for total in range(3, 31):
            got = scenarios.phase_seconds(scenarios.phases(sc), total)
            assert sum(got) == total and min(got) >= 1, (name, total, got)


def test_throughput_chart_draws_and_scales_by_the_compared_rounds_only(tmp_path):
    """The backend alone (not drawn) and the overload scenario's unloaded runs (a baseline) are
    neither dots nor the y-axis maximum."""
    from harness import report
    runs = [{"round": 1, "target": "backend alone", "rps": 100_000.0},
            {"round": 1, "target": "sluice", "phase": "unloaded", "rps": 500.0},
            {"round": 1, "target": "sluice", "phase": "overload", "rps": 9_000.0},
            {"round": 1, "target": "nginx", "phase": "unloaded", "rps": 400.0},
            {"round": 1, "target": "nginx", "phase": "overload", "rps": 10_000.0},
            {"round": 2, "target": "nginx", "phase": "overload", "rps": 11_000.0}]
    results = {"runs": runs, "summary": {"sluice": {"rps": 9_000.0}, "nginx": {"rps": 10_500.0}}}
    assert report.throughput_rounds(results) == {"sluice": [9_000.0], "nginx": [10_000.0, 11_000.0]}
    assert [r["rps"] for r in report.measured_runs(runs)] == [100_000.0, 9_000.0, 10_000.0, 11_000.0]


def test_h2load_fixed_rate_staggers_the_clients():
    """A fixed rate: -n = rate x seconds with clients started one per ms per thread (-r excludes
    -D), and -T (a connection's whole life) past the run; at full speed: -D."""
    from pathlib import Path
    from harness import load
    base = {"threads": 2, "connections": 64, "streams": 1, "timeout": "10s"}
    cmd = load.h2load_cmd("http://x", {**base, "rps": 151.5, "h1": True}, "3s", Path("u"), Path("l"))
    opts = dict(zip(cmd, cmd[1:]))
    assert opts["--rps"] == "151.500" and opts["-n"] == str(round(151.5 * 64 * 3))
    assert opts["-r"] == "2" and opts["--rate-period"] == "1ms" and opts["-T"] == "13s" and "-D" not in cmd
    cmd = load.h2load_cmd("http://x", base, "3s", Path("u"), Path("l"))
    opts = dict(zip(cmd, cmd[1:]))
    assert opts["-D"] == "3s" and opts["-T"] == "10s" and "-r" not in cmd and "--rps" not in cmd
