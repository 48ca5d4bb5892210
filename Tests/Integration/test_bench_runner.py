"""bench/run end to end on a tiny scenario (a few seconds, low load): sluice and nginx side by
side, then a scenario whose policy sluice cannot serve yet (reported skipped, the peer still
runs). Functional only: no speed is asserted."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN_DIR, REPO, require_binaries

RUN = REPO / "bench" / "run"

TINY = """\
name: tiny
description: a functional check of the harness
protocol: h1
workers: 1
policy: bare
peers: [nginx]
backend: {workers: 1, settings: {latency: "uniform:0ms-1ms"}}
load: {connections: 4, threads: 1, duration: 2s, warmup: 1s, rounds: 1}
traffic:
  merchants: ["1900000001", "1900000002"]
  mix:
    - {name: create, method: POST, path: /v3/pay/transactions/jsapi, kind: create_json, weight: 2, body_bytes: 300}
    - {name: query, method: GET, path: /v3/pay/transactions/out-trade-no/, kind: query, weight: 1}
    - {name: xml, method: POST, path: /pay/unifiedorder, kind: create_xml, weight: 1}
"""


def need_tools():
    require_binaries()
    for tool in ("wrk", "nginx"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            pytest.fail(f"{tool} not found: `make deps` installs it", pytrace=False)


def run_bench(scenario: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLUICE_BIN_DIR": str(BIN_DIR)}
    for knob in ("BENCH_DURATION", "BENCH_WARMUP", "BENCH_ROUNDS", "BENCH_CONNECTIONS", "BENCH_TARGETS", "BENCH_PATH"):
        env.pop(knob, None)
    r = subprocess.run([sys.executable, str(RUN), str(scenario), "--out", str(out)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"bench/run failed:\n{r.stdout}\n{r.stderr}"
    return r


def test_tiny_scenario_reports_every_target(tmp_path):
    need_tools()
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    out = tmp_path / "results"
    r = run_bench(scenario, out)

    for name in ("results.json", "report.md", "throughput.png", "latency.png", "resources.png"):
        assert (out / name).stat().st_size > 0, name
    results = json.loads((out / "results.json").read_text())
    assert results["target_status"] == {"sluice": "ran", "nginx": "ran"}
    assert [x["target"] for x in results["runs"]] == ["sluice", "nginx"]
    for target in ("sluice", "nginx"):
        s = results["summary"][target]
        assert s["rps"] > 0 and s["requests"] > 0, s
        for key in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "cpu_s", "cpu_ms_per_1k", "peak_rss_mib"):
            assert s[key] is not None and s[key] > 0, (target, key, s)
        assert s["errors"] == 0, s
        assert results["ratios_to_sluice"][target]["rps"] > 0
    assert results["backend_stats"]["payments_executed"] > 0
    assert results["backend_stats"]["duplicate_payments"] == 0

    report = (out / "report.md").read_text()
    for row in ("| sluice |", "| nginx |", "Ratio to sluice", "![throughput](throughput.png)"):
        assert row in report, row
    assert "nginx" in r.stdout and "sluice" in r.stdout


def test_sluice_is_skipped_when_it_cannot_serve_the_policy(tmp_path):
    need_tools()
    policy = tmp_path / "future-policy"
    policy.mkdir()
    template = (REPO / "bench" / "policies" / "bare" / "bench.yaml").read_text()
    (policy / "bench.yaml").write_text(template + "future_feature: {enabled: true}\n")
    scenario = tmp_path / "future.yaml"
    scenario.write_text(TINY.replace("policy: bare", "policy: future-policy")
                        .replace("duration: 2s, warmup: 1s", "duration: 1s, warmup: 1s"))
    out = tmp_path / "results"
    r = run_bench(scenario, out)
    results = json.loads((out / "results.json").read_text())
    assert results["target_status"]["sluice"].startswith("skipped"), results["target_status"]
    assert "future_feature" in results["target_status"]["sluice"]
    assert results["target_status"]["nginx"] == "ran"
    assert results["summary"]["nginx"]["rps"] > 0 and "sluice" not in results["summary"]
    assert "sluice: skipped" in r.stdout
    assert "**sluice**: skipped" in (out / "report.md").read_text()


def test_validation_bench_runs_both_parts():
    """bench/validation's two parts at a low load (its bodies pass the bundled rules: any
    non-2xx fails it), so a policy change cannot silently break the bench (as a thread pool the
    bundled order rule names once did)."""
    need_tools()
    env = {**os.environ, "SLUICE_BIN_DIR": str(BIN_DIR), "BENCH_DURATION": "1s", "BENCH_ROUNDS": "1",
           "BENCH_CONNECTIONS": "4"}
    env.pop("BENCH_PARTS", None)
    r = subprocess.run([sys.executable, str(REPO / "bench" / "validation")], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"bench/validation failed:\n{r.stdout}\n{r.stderr}"
    for line in ("validation (wechat-v3-order)", "validation (bundled rules)", "bare: validation (bundled rules)"):
        assert any(row.startswith(line) for row in r.stdout.splitlines()), f"no row {line!r}:\n{r.stdout}"


def test_instruction_counts_bench_reports_every_route():
    """bench/instructions end to end at a short duration: sluice under callgrind answers all three
    kinds of request, and each row has a plausible count (a request costs tens of thousands of
    instructions and allocates; zero would mean the counters were not read)."""
    need_tools()
    if not shutil.which("valgrind"):
        pytest.fail("valgrind not found: `make deps` installs it", pytrace=False)
    env = {**os.environ, "SLUICE_BIN_DIR": str(BIN_DIR), "BENCH_DURATION": "2s"}
    r = subprocess.run([sys.executable, str(REPO / "bench" / "instructions")], env=env, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, f"bench/instructions failed:\n{r.stdout}\n{r.stderr}"
    rows = {line[:34].strip(): line[34:].split() for line in r.stdout.splitlines()
            if line.startswith(("bare GET", "merchant HMAC", "POST order"))}
    assert len(rows) == 3, r.stdout
    for name, (requests, instructions, mallocs) in rows.items():
        assert int(requests) > 0, name
        assert 10_000 < int(instructions.replace(",", "")) < 1_000_000, (name, instructions)
        assert 1 <= float(mallocs) < 1_000, (name, mallocs)
