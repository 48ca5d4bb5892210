"""bench/run end to end on tiny scenarios (a few seconds, low load): sluice and nginx side by
side on the mock backend; the speed-baseline shape (the static nginx backend, measured alone,
every peer: nginx, HAProxy, h2o, nghttpx) over h1, h1-tls and h2-tls, with CPU per request and a seeded
order of targets; a scenario whose policy sluice cannot serve yet (reported skipped, the peer
still runs); the idle-connections scenarios at 200 connections. Functional only: no speed or
memory figure is asserted."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import re
import resource
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


PEERS = ["nginx", "haproxy", "h2o", "nghttpx"]

STATIC = """\
name: tiny-static
description: the speed baselines' shape at a tiny load
protocol: {protocol}
workers: 1
policy: {policy}
peers: [nginx, haproxy, h2o, nghttpx]
backend: {{kind: static, workers: 1}}
load: {{connections: 8, streams: 4, threads: 1, duration: 1s, warmup: 1s, rounds: 2}}
traffic:
  merchants: ["1900000001"]
  mix:
    - {{name: query, method: GET, path: /v3/pay/transactions/out-trade-no/, kind: query, weight: 2}}
    - {{name: ping, method: GET, path: /bench/ping, weight: 1}}
"""


def need_tools(*more: str):
    require_binaries()
    for tool in ("wrk", "nginx", *more):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            pytest.fail(f"{tool} not found: `make deps` installs it", pytrace=False)


def run_bench(scenario: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SLUICE_BIN_DIR": str(BIN_DIR)}
    for knob in ("BENCH_DURATION", "BENCH_WARMUP", "BENCH_ROUNDS", "BENCH_CONNECTIONS", "BENCH_TARGETS", "BENCH_PATH",
                 "BENCH_SEED", "BENCH_BACKEND_CMD"):
        env.pop(knob, None)
    r = subprocess.run([sys.executable, str(RUN), str(scenario), "--out", str(out), *args], env=env,
                       capture_output=True, text=True, timeout=120)
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
    assert [x["target"] for x in results["runs"]] == results["round_orders"][0]
    assert sorted(results["round_orders"][0]) == ["nginx", "sluice"]
    assert "backend_alone" not in results  # the mock backend is not measured alone
    for target in ("sluice", "nginx"):
        s = results["summary"][target]
        assert s["rps"] > 0 and s["requests"] > 0, s
        for key in ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "cpu_s", "cpu_us_per_req", "peak_rss_mib"):
            assert s[key] is not None and s[key] > 0, (target, key, s)
        assert s["errors"] == 0, s
        assert results["ratios_to_sluice"][target]["rps"] > 0
    assert results["backend_stats"]["payments_executed"] > 0
    assert results["backend_stats"]["duplicate_payments"] == 0
    # Each run's share of the ledger: every target made payments, none twice, and the runs'
    # shares add up to no more than the ledger's total (warm-ups count there too).
    for run in results["runs"]:
        assert run["ledger"]["payments_executed"] > 0 and run["ledger"]["duplicate_payments"] == 0, (run["target"], run["ledger"])
    assert sum(run["ledger"]["payments_executed"] for run in results["runs"]) <= results["backend_stats"]["payments_executed"]
    for run in results["runs"]:  # p100 is wrk's maximum (its percentile(100) reads 0)
        assert run["latency_ms"]["100"] >= run["latency_ms"]["99.99"] > 0, run["latency_ms"]

    report = (out / "report.md").read_text()
    for row in ("| sluice |", "| nginx |", "Ratio to sluice", "![throughput](throughput.png)", "## Backend ledger by target"):
        assert row in report, row
    assert "nginx" in r.stdout and "sluice" in r.stdout


def bench_run_module():
    loader = importlib.machinery.SourceFileLoader("bench_run", str(RUN))
    spec = importlib.util.spec_from_loader("bench_run", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("protocol,policy", [("h1", "bare"), ("h1-tls", "tls-h1"), ("h2-tls", "tls-h2")])
def test_speed_baseline_shape_static_backend_every_peer(tmp_path, protocol, policy):
    """The speed baselines' shape: nginx `return 200` behind every proxy (the mock backend never
    starts), measured alone in each round; h2o and nghttpx beside nginx and HAProxy; CPU µs per
    request for every target; the order of targets shuffled per round from the seed given."""
    need_tools("haproxy", "h2o", "nghttpx", "h2load")
    scenario = tmp_path / "tiny-static.yaml"
    scenario.write_text(STATIC.format(protocol=protocol, policy=policy))
    out = tmp_path / "results"
    r = run_bench(scenario, out, "--seed", "11", "--keep-work")
    work = Path(re.search(r"kept work dir (\S+)", r.stderr).group(1))
    try:  # nginx `return 200` was the backend; the mock backend never started
        assert (work / "static-nginx.conf").exists() and not (work / "backend.stdout").exists()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results = json.loads((out / "results.json").read_text())
    everyone = ["sluice", *PEERS]
    assert results["target_status"] == {t: "ran" for t in everyone + ["backend alone"]}, results["target_status"]
    assert results["backend_stats"] == {}

    # The order: one shuffle per round from the seed, printed, recorded, and the order runs ran in.
    assert results["order_seed"] == 11
    expected = bench_run_module().round_orders(everyone + ["backend alone"], 2, 11)
    assert results["round_orders"] == expected
    assert [x["target"] for x in results["runs"]] == expected[0] + expected[1]
    assert expected[0] != expected[1]  # a fresh shuffle per round
    assert "order seed 11" in r.stdout and "--seed 11" in r.stderr

    for t in everyone:
        s = results["summary"][t]
        assert s["rps"] > 0 and s["errors"] == 0, (t, s)
        assert s["cpu_us_per_req"] == pytest.approx(1e6 * s["cpu_s"] / s["requests"]), (t, s)
        assert 0 < s["cpu_us_per_req"] < 10_000, (t, s)
        assert 0 < s["backend_busy_pct"] < 200, (t, s)
        assert 0 <= s["others_cpu_pct"] < 200, (t, s)
    alone = results["backend_alone"]
    assert alone["rps"] > 0 and alone["errors"] == 0 and alone["cpu_us_per_req"] > 0
    fastest = max(everyone, key=lambda t: results["summary"][t]["rps"])
    assert alone["fastest_proxy"] == fastest
    assert alone["times_fastest_proxy"] == pytest.approx(alone["rps"] / results["summary"][fastest]["rps"])
    assert alone["ok"] == (alone["times_fastest_proxy"] >= 2)
    report = (out / "report.md").read_text()
    verdict = "so the proxies were measured, not the backend" if alone["ok"] else "WARNING: the backend alone is not 2×"
    assert verdict in report and verdict in r.stdout
    assert "| target | req/s | CPU per req (µs) |" in report
    for t in everyone:
        assert f"| {t} |" in report


@pytest.mark.parametrize("scenario,protocol,target_kib", [("idle-tls", "h1-tls", 16), ("idle-h1", "h1", 4),
                                                          ("idle-h2", "h2-tls", None)])
def test_idle_connections_scenario(tmp_path, scenario, protocol, target_kib):
    """The idle-connections scenarios at 200 connections per target: every target measured (all
    200 still open when RSS is read; over HTTP/2 each after a stream answered 2xx), sluice judged
    against the issue's target where it has one, and against nginx; run with a soft open-file
    limit of 1024, so the runner must raise it (and say how)."""
    need_tools("haproxy", "h2o", "nghttpx")
    env = {**os.environ, "SLUICE_BIN_DIR": str(BIN_DIR)}
    for knob in ("BENCH_SEED", "BENCH_TARGETS", "BENCH_IDLE_CONNECTIONS", "BENCH_BACKEND_CMD"):
        env.pop(knob, None)
    out = tmp_path / "results"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    r = subprocess.run([sys.executable, str(RUN), scenario, "--idle-connections", "200", "--out", str(out)], env=env,
                       capture_output=True, text=True, timeout=240,
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
    assert r.returncode == 0, f"bench/run failed:\n{r.stdout}\n{r.stderr}"
    results = json.loads((out / "results.json").read_text())
    idle = results["idle"]
    assert idle["connections"] == 200 and idle["protocol"] == protocol
    assert idle["fd_limit"]["before"][0] == 1024 and idle["fd_limit"]["after"][0] >= 200 + 4096
    assert "setrlimit" in idle["fd_limit"]["how"]
    assert sorted(idle["targets"]) == sorted(["sluice", *PEERS]) and sorted(idle["order"]) == sorted(idle["targets"])
    assert results["runs"] == [] and "backend_alone" not in results
    for t, x in idle["targets"].items():
        assert x["still_open"] == 200, (t, x)
        assert x["rss_after_kib"] >= x["rss_before_kib"] > 0, (t, x)
        assert x["kib_per_connection"] == pytest.approx((x["rss_after_kib"] - x["rss_before_kib"]) / 200), (t, x)
    sluice = idle["targets"]["sluice"]["kib_per_connection"]
    assert sluice > 0
    v = idle["verdict"]
    report = (out / "report.md").read_text()
    assert v["target_kib"] == target_kib
    if target_kib is not None:
        assert v["target_met"] == (sluice <= target_kib)
        assert f"the issue's target is ≤ {target_kib} KiB: " + ("met" if v["target_met"] else "NOT met") in report
    assert "| sluice |" in report and "| nghttpx |" in report and "KiB/conn" in r.stdout


def test_new_connection_scenario_opens_a_connection_per_request(tmp_path):
    """h1-tls-newconn for 1 s per target: every answer of every proxy said Connection: close
    (wrk counts them), so every request had a TLS connection of its own."""
    need_tools("haproxy", "h2o", "nghttpx")
    out = tmp_path / "results"
    run_bench(REPO / "bench" / "scenarios" / "h1-tls-newconn.yaml", out, "--duration", "1s", "--warmup", "1s",
              "--rounds", "1")
    results = json.loads((out / "results.json").read_text())
    assert results["scenario"]["load"]["new_connection"] is True
    proxies = [r for r in results["runs"] if r["target"] != "backend alone"]
    assert sorted(r["target"] for r in proxies) == sorted(["sluice", *PEERS])
    for r in proxies:
        assert r["requests"] > 0 and r["non_2xx"] == 0 and r["socket_errors"] == 0, r
        assert r["outcomes"] == {"closed": r["requests"]}, (r["target"], r["outcomes"])
        assert r["cpu_us_per_req"] > 0


H2_POST = """\
name: tiny-h2-post
protocol: h2-tls
policy: tls-h2
peers: [nginx]
load: {connections: 4, streams: 4, duration: 1s, warmup: 1s, rounds: 1}
traffic:
  merchants: ["1900000001"]
  mix:
    - {name: create, method: POST, path: /v3/pay/transactions/jsapi, kind: create_json, weight: 1, body_bytes: 400}
"""


def test_h2_post_mix_posts_a_valid_order(tmp_path):
    """A mix of POSTs only over h2-tls: h2load posts one JSON order (-d) on every stream. Against
    the mock backend, which checks each order: every request arrived as a valid create (one
    order, the rest duplicates of it), none as a GET or a bad body."""
    need_tools("h2load")
    scenario = tmp_path / "h2-post.yaml"
    scenario.write_text(H2_POST)
    out = tmp_path / "results"
    run_bench(scenario, out)
    results = json.loads((out / "results.json").read_text())
    measured = sum(r["requests"] for r in results["runs"])
    assert all(r["non_2xx"] == 0 and r["socket_errors"] == 0 and r["requests"] > 0 for r in results["runs"])
    stats = results["backend_stats"]
    assert stats["payments_executed"] >= measured and stats["bad_requests"] == 0 and stats["queries"] == 0, stats
    assert stats["orders"] == 1, stats
    # The bundled POST scenario's body is the size it says.
    sys.path.insert(0, str(REPO / "bench"))
    from harness import load as loadgen, scenario as scenarios
    post = scenarios.load(REPO / "bench" / "scenarios" / "h2-tls-post.yaml")
    body = loadgen.h2load_body(post, tmp_path / "body.json")
    assert body.stat().st_size == 400 and json.loads(body.read_text())["mchid"] == "1900000001"


FIXED = """\
name: tiny-fixed
protocol: {protocol}
policy: {policy}
peers: [nginx]
backend: {{kind: static}}
load: {{connections: 4, streams: 4, duration: 1s, warmup: 1s, rounds: 1, fixed_rates: [0.5]}}
traffic:
  mix:
    - {{name: ping, method: GET, path: /bench/ping}}
"""


@pytest.mark.parametrize("protocol,policy", [("h1", "bare"), ("h2-tls", "tls-h2")])
def test_fixed_rate_mode(tmp_path, protocol, policy):
    """fixed_rates [0.5]: after the rounds each target runs at half its own peak. h2-tls: the peak
    is the rounds' mean; h1 (the rounds ran wrk): measured again with h2load --h1 first. h2load's
    --rps holds the achieved rate at (never well above) the offered one."""
    need_tools("h2load")
    scenario = tmp_path / "fixed.yaml"
    scenario.write_text(FIXED.format(protocol=protocol, policy=policy))
    out = tmp_path / "results"
    r = run_bench(scenario, out, "--seed", "5")
    results = json.loads((out / "results.json").read_text())
    fr = results["fixed_rate"]
    assert fr["fractions"] == [0.5] and sorted(fr["summary"]) == ["nginx", "sluice"]
    for t in ("sluice", "nginx"):
        peak = fr["peaks"][t]
        if protocol == "h2-tls":
            assert peak["rps"] == pytest.approx(results["summary"][t]["rps"]) and peak["source"].startswith("the saturation")
        else:
            assert peak["source"].startswith("h2load --h1")
            assert [x["rps"] for x in fr["runs"] if x["target"] == t and x["fraction"] is None] == [peak["rps"]]
        x = fr["summary"][t]["0.5"]
        assert x["offered_rps"] == pytest.approx(0.5 * peak["rps"])
        assert 0 < x["rps"] <= 1.1 * x["offered_rps"] and x["errors"] == 0, (t, x)
        assert x["p99_ms"] > 0 and x["cpu_us_per_req"] > 0
        assert x["behind"] == (x["rps"] < 0.95 * x["offered_rps"]) and x["others_cpu_pct"] >= 0
    assert "Fixed rate: latency at 50%" in (out / "report.md").read_text() and "50% of" in r.stdout


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


def test_validation_bench_runs_every_part():
    """bench/validation's three parts at a low load (its bodies pass the bundled rules: any
    non-2xx fails it), so a policy change cannot silently break the bench (as a thread pool the
    bundled order rule names once did)."""
    need_tools()
    if not shutil.which("valgrind"):
        pytest.fail("valgrind not found: `make deps` installs it", pytrace=False)
    env = {**os.environ, "SLUICE_BIN_DIR": str(BIN_DIR), "BENCH_DURATION": "1s", "BENCH_ROUNDS": "1",
           "BENCH_CONNECTIONS": "4", "BENCH_CALLGRIND_DURATION": "2s"}
    env.pop("BENCH_PARTS", None)
    r = subprocess.run([sys.executable, str(REPO / "bench" / "validation")], env=env, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, f"bench/validation failed:\n{r.stdout}\n{r.stderr}"
    for line in ("validation (wechat-v3-order)", "validation (bundled rules)", "bare: validation (bundled rules)"):
        # once in part 2 (wrk), once in part 3 (callgrind)
        assert sum(row.startswith(line) for row in r.stdout.splitlines()) == (1 if "order" in line else 2), \
            f"rows {line!r}:\n{r.stdout}"
    assert "3. the payment mix under callgrind" in r.stdout, r.stdout


def test_instruction_counts_bench_reports_every_route():
    """bench/instructions end to end at a short duration: sluice under callgrind answers all four
    kinds of request (HTTP/2 over TLS among them), and each row has a plausible count (a request
    costs tens of thousands of instructions and allocates; zero would mean the counters were not
    read)."""
    need_tools()
    if not shutil.which("valgrind"):
        pytest.fail("valgrind not found: `make deps` installs it", pytrace=False)
    env = {**os.environ, "SLUICE_BIN_DIR": str(BIN_DIR), "BENCH_DURATION": "2s"}
    r = subprocess.run([sys.executable, str(REPO / "bench" / "instructions")], env=env, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, f"bench/instructions failed:\n{r.stdout}\n{r.stderr}"
    rows = {line[:34].strip(): line[34:].split() for line in r.stdout.splitlines()
            if line.startswith(("bare GET", "merchant HMAC", "POST order"))}
    assert len(rows) == 4 and "bare GET, HTTP/2 over TLS" in rows, r.stdout
    for name, (requests, instructions, mallocs) in rows.items():
        assert int(requests) > 0, name
        assert 10_000 < int(instructions.replace(",", "")) < 1_000_000, (name, instructions)
        assert 1 <= float(mallocs) < 1_000, (name, mallocs)
