"""results.json, report.md (each target, each figure, ratio to sluice) and PNG charts."""
from __future__ import annotations

import json
from pathlib import Path

from . import breakers, fixedrate, idle, overload

FIGURES = [  # key, label, unit, better
    ("rps", "req/s", "", "higher"),
    ("cpu_us_per_req", "CPU per req", "µs", "lower"),
    ("kernel_us_per_req", "of which kernel", "µs", "lower"),
    ("p50_ms", "p50", "ms", "lower"),
    ("p90_ms", "p90", "ms", "lower"),
    ("p99_ms", "p99", "ms", "lower"),
    ("p99.9_ms", "p99.9", "ms", "lower"),
    ("errors", "errors", "", "lower"),
    ("cpu_s", "CPU", "s", "lower"),
    ("peak_rss_mib", "peak RSS", "MiB", "lower"),
    ("backend_busy_pct", "backend busy", "% of a core", "lower"),
    ("others_cpu_pct", "other processes (max)", "% of a core", "lower"),
]
COLORS = {"sluice": "#1f77b4", "sluice-unguarded": "#9ecae1", "nginx": "#2ca02c", "haproxy": "#d62728",
          "h2o": "#9467bd", "nghttpx": "#ff7f0e", "backend alone": "#7f7f7f"}
CONTEXT = {"backend_busy_pct", "others_cpu_pct"}  # figures of the run's surroundings: no ratio to sluice
ALONE_FACTOR = 2.0  # the backend alone must serve at least this many times the fastest proxy's req/s


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def measured_runs(runs: list[dict]) -> list[dict]:
    """The runs that are compared: not the unloaded baseline runs before each overload round."""
    return [r for r in runs if r.get("phase") != "unloaded"]


def throughput_rounds(results: dict) -> dict[str, list[float]]:
    """What the throughput chart draws as dots: each summarized target's measured rounds (not
    the backend alone, which has its own line, nor the unloaded baseline runs)."""
    measured = measured_runs(results["runs"])
    return {t: [r["rps"] for r in measured if r["target"] == t] for t in results["summary"]}


def summarize(runs: list[dict], targets: list[str]) -> dict:
    summary = {}
    for t in targets:
        rs = [r for r in runs if r["target"] == t]
        if not rs:
            continue
        s = {"rounds": len(rs), "rps": mean([r["rps"] for r in rs])}
        for p in ("50", "90", "99", "99.9"):
            s[f"p{p}_ms"] = mean([r["latency_ms"].get(p) for r in rs])
        s["non_2xx"] = sum(r["non_2xx"] for r in rs)
        s["socket_errors"] = sum(r["socket_errors"] for r in rs)
        s["errors"] = s["non_2xx"] + s["socket_errors"]
        s["requests"] = sum(r["requests"] for r in rs)
        s["cpu_s"] = sum(r["cpu_s"] for r in rs)
        # CPU µs per request: the proxy's processes' utime + stime over the measured runs, divided
        # by the requests answered in them (the headline figure, steadier than req/s on a shared box).
        s["cpu_us_per_req"] = 1e6 * s["cpu_s"] / s["requests"] if s["requests"] else None
        if s["requests"] and all("cpu_kernel_s" in r for r in rs):
            # The kernel's share of it (stime): system calls and loopback's packet handling, alike
            # for every proxy that makes the same calls; the rest is the proxy's own code.
            s["kernel_us_per_req"] = 1e6 * sum(r["cpu_kernel_s"] for r in rs) / s["requests"]
        s["peak_rss_mib"] = max(r["peak_rss_kib"] for r in rs) / 1024
        if all("others_cpu_pct" in r for r in rs):  # the most other processes took during its runs
            s["others_cpu_pct"] = max(r["others_cpu_pct"] for r in rs)
        if all("backend_cpu_s" in r for r in rs):  # how busy the backend was while this target ran
            s["backend_busy_pct"] = 100 * sum(r["backend_cpu_s"] for r in rs) / sum(r["seconds"] for r in rs)
        s["latency_curve_ms"] = {p: mean([r["latency_ms"].get(p) for r in rs]) for p in rs[0]["latency_ms"]}
        summary[t] = s
    return summary


def backend_alone(runs: list[dict], summary: dict, name: str) -> dict:
    """The static backend measured by itself in the same rounds, against the fastest proxy: `ok`
    when it served at least ALONE_FACTOR times that proxy's req/s (else the proxies may have been
    held by the backend, and the run cannot rank them)."""
    s = summarize(runs, [name]).get(name)
    if not s:
        return {}
    best = max(summary.items(), key=lambda kv: kv[1]["rps"], default=(None, None))
    times = s["rps"] / best[1]["rps"] if best[0] and best[1]["rps"] else None
    cheapest = min(((t, x) for t, x in summary.items() if x.get("cpu_us_per_req")),
                   key=lambda kv: kv[1]["cpu_us_per_req"], default=(None, None))
    return {"rps": s["rps"], "cpu_us_per_req": s["cpu_us_per_req"], "p99_ms": s["p99_ms"], "errors": s["errors"],
            "fastest_proxy": best[0], "times_fastest_proxy": times,
            "cheapest_proxy": cheapest[0],
            "cpu_fraction_of_cheapest": (s["cpu_us_per_req"] / cheapest[1]["cpu_us_per_req"]
                                         if cheapest[0] and s["cpu_us_per_req"] else None),
            "busiest_during_proxies_pct": max((x.get("backend_busy_pct") or 0 for x in summary.values()), default=None),
            "ok": times is not None and times >= ALONE_FACTOR}


def backend_alone_line(alone: dict) -> str:
    """One plain sentence on the backend alone, for the report and the terminal."""
    head = (f"Backend alone (nginx return 200, same rounds, wrk 2 threads × 128 connections): "
            f"{alone['rps']:,.0f} req/s, {alone['cpu_us_per_req'] or 0:.1f} µs CPU per request")
    if alone["times_fastest_proxy"] is None:
        return head + "; no proxy figures to compare with."
    ratio = f"{alone['times_fastest_proxy']:.2f}× the fastest proxy's req/s ({alone['fastest_proxy']})"
    cpu = ""
    if alone.get("cpu_fraction_of_cheapest") is not None:
        cpu = (f" Its CPU per request is {alone['cpu_fraction_of_cheapest']:.2f}× the cheapest proxy's "
               f"({alone['cheapest_proxy']}); it was at most {alone['busiest_during_proxies_pct']:.0f}% busy "
               f"(of one core) while a proxy was measured.")
    if alone["ok"]:
        return f"{head}: {ratio}, at least {ALONE_FACTOR:g}×, so the proxies were measured, not the backend.{cpu}"
    return (f"{head}: only {ratio}, less than {ALONE_FACTOR:g}×. WARNING: the backend alone is not "
            f"{ALONE_FACTOR:g}× faster than every proxy here; throughput near it may be the backend's or the "
            f"machine's limit, not the proxy's.{cpu}")


def ratios(summary: dict) -> dict:
    base = summary.get("sluice")
    if not base:
        return {}
    out = {}
    for t, s in summary.items():
        out[t] = {k: (s[k] / base[k] if s.get(k) is not None and base.get(k) else None)
                  for k, *_ in FIGURES if k not in CONTEXT}
    return out


def _fmt(key: str, v) -> str:
    if v is None:
        return "n/a"
    if key == "rps":
        return f"{v:,.0f}"
    if key == "errors":
        return f"{int(v)}"
    return f"{v:.3f}" if v < 10 else f"{v:.1f}"


def markdown(results: dict) -> str:
    sc, summary, rat = results["scenario"], results["summary"], results["ratios_to_sluice"]
    load = sc["load"]
    lines = [f"# {sc['name']}", ""]
    if sc.get("description"):
        lines += [sc["description"].strip(), ""]
    lines += [f"- when: {results['time']}; machine: {results['machine']['nproc']} cores, "
              f"kernel {results['machine']['kernel']}",
              f"- protocol **{sc['protocol']}**, {sc['workers']} worker(s) per proxy, load "
              f"{results['load_tool']} {load['connections']} connections"
              + (f" × {load['streams']} streams" if sc["protocol"] == "h2-tls" else "")
              + (f", {load['threads']} thread(s), {load['duration']} per run, {load['rounds']} interleaved round(s) "
                 f"(warm-up {load['warmup']} each)" if not results.get("idle") else
                 f" for the warm-up ({load['warmup']} each), then no load rounds: idle connections (below)"),
              f"- traffic: " + ", ".join(f"{r['name']} {r['method']} {r['path']} ×{r['weight']}" for r in sc["traffic"]["mix"]),
              (f"- backend: nginx `return 200` (about 100 bytes of JSON), {sc['backend']['workers']} worker(s), "
               "no access log, keep-alive; measured alone in every round too"
               if sc["backend"].get("kind") == "static" else
               f"- backend: `{sc['backend'].get('command')}` (BENCH_BACKEND_CMD; not measured alone)"
               if sc["backend"].get("kind") == "command" else
               f"- backend: sluice-demo-backend, {sc['backend']['workers']} worker(s), settings "
               f"{json.dumps(sc['backend']['settings']) if sc['backend']['settings'] else 'default (no latency)'}"
               + (f", timeline {json.dumps(sc['backend']['timeline'])}" if sc["backend"]["timeline"] else "")),
              ""]
    lines += ["## Targets", ""]
    for t, status in results["target_status"].items():
        lines.append(f"- **{t}**: {status}")
    if results.get("round_orders"):
        lines.append(f"- order of targets (seed {results['order_seed']}; `--seed {results['order_seed']}` repeats it): "
                     + "; ".join(f"round {i}: {', '.join(o)}" for i, o in enumerate(results["round_orders"], 1)))
    lines.append("")
    if results.get("backend_alone"):
        lines += [backend_alone_line(results["backend_alone"]), ""]
    if summary:
        lines += ["## Figures (mean over rounds; errors, CPU and requests summed; peak RSS max)", ""]
        lines.append("| target | " + " | ".join(f"{label}{' (' + unit + ')' if unit else ''}" for _, label, unit, _ in FIGURES) + " |")
        lines.append("|---|" + "---:|" * len(FIGURES))
        for t, s in summary.items():
            lines.append(f"| {t} | " + " | ".join(_fmt(k, s.get(k)) for k, *_ in FIGURES) + " |")
        lines.append("")
        if rat:
            lines += ["## Ratio to sluice (target ÷ sluice: req/s above 1 means the peer is faster; "
                      "latency, CPU and memory above 1 mean the peer costs more)", ""]
            own = [f for f in FIGURES if f[0] not in CONTEXT]
            lines.append("| target | " + " | ".join(label for _, label, _, _ in own) + " |")
            lines.append("|---|" + "---:|" * len(own))
            for t, r in rat.items():
                lines.append(f"| {t} | " + " | ".join("n/a" if r[k] is None else f"{r[k]:.2f}×" for k, *_ in own) + " |")
            lines.append("")
        else:
            lines += ["No sluice figures in this run, so no ratios.", ""]
    lines += ["## Runs (in the order they ran)", "",
              "| round | target | req/s | CPU µs/req | p50 ms | p99 ms | p99.9 ms | non-2xx | socket errors | CPU s |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results["runs"]:
        lm = r["latency_ms"]
        name = r["target"] + (f" ({r['phase']})" if r.get("phase") == "unloaded" else "")
        cpr = r.get("cpu_us_per_req")
        lines.append(f"| {r['round']} | {name} | {r['rps']:,.0f} | {'' if cpr is None else f'{cpr:.1f}'} | {lm.get('50', 0):.3f} | {lm.get('99', 0):.3f} | "
                     f"{lm.get('99.9', 0):.3f} | {r['non_2xx']} | {r['socket_errors']} | {r['cpu_s']:.2f} |")
        for x in r.get("phases") or []:
            xm = x["latency_ms"]
            lines.append(f"| | ↳ {x['phase']} ({x['seconds']:.1f} s) | {x['rps']:,.0f} | | {xm.get('50', 0):.3f} | "
                         f"{xm.get('99', 0):.3f} | {xm.get('99.9', 0):.3f} | {x['non_2xx']} | {x['socket_errors']} | |")
        for c, x in (r.get("classes") or {}).items():
            xm = x["latency_ms"]
            lines.append(f"| | ↳ {c} ({x['connections']} conn.) | {x['rps']:,.0f} | | {xm.get('50', 0):.3f} | "
                         f"{xm.get('99', 0):.3f} | {xm.get('99.9', 0):.3f} | {x['non_2xx']} | {x['socket_errors']} | |")
    lines.append("")
    lines += ledger_lines(results)
    lines += fixedrate.lines(results, markdown=True)
    lines += idle.lines(results, markdown=True)
    lines += overload.markdown(results)
    lines += breakers.markdown(results)
    charts = [c for c in ("throughput.png", "latency.png", "resources.png") if c in results.get("charts", [])]
    if charts:
        lines += ["## Charts", ""] + [f"![{c[:-4]}]({c})" for c in charts] + [""]
    lines += ["Versions: " + "; ".join(f"{k}: {v}" for k, v in results["versions"].items()), ""]
    return "\n".join(lines)


def charts(results: dict, outdir: Path) -> list[str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
    except ImportError:
        return []
    summary = results["summary"]
    if not summary:
        return []
    name, made = results["scenario"]["name"], []
    targets = list(summary)
    colors = [COLORS.get(t, "#7f7f7f") for t in targets]

    # Throughput: mean bars, each measured round a dot, the ratio to sluice on the bar. Only the
    # targets of the summary (not the backend alone, a line of its own) and their measured rounds
    # are drawn, and the y-axis is scaled by what is drawn.
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    means = [summary[t]["rps"] for t in targets]
    bars = ax.bar(targets, means, color=colors, width=0.6, alpha=0.9)
    drawn = list(means)
    for i, (t, rounds) in enumerate(throughput_rounds(results).items()):
        drawn += rounds
        ax.scatter([i] * len(rounds), rounds, color="black", s=14, zorder=3, label="one round" if i == 0 else None)
    base = summary.get("sluice", {}).get("rps")
    for b, t, v in zip(bars, targets, means):
        label = f"{v:,.0f}" + (f"\n{v / base:.2f}× sluice" if base and t != "sluice" else "")
        ax.annotate(label, (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=9,
                    xytext=(0, 3), textcoords="offset points")
    ax.set_ylabel("requests per second (higher is better)")
    ax.set_ylim(0, max(drawn + [1e-9]) * 1.25)
    ax.set_title(f"{name}: throughput ({results['scenario']['protocol']}, "
                 f"{results['scenario']['workers']} worker each)")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(outdir / "throughput.png")
    plt.close(fig)
    made.append("throughput.png")

    # Latency percentile curves on a "nines" axis.
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for t, c in zip(targets, colors):
        curve = summary[t]["latency_curve_ms"]
        pts = sorted((float(p), v) for p, v in curve.items() if v is not None and 0 < float(p) < 100)
        xs = [1 / (1 - p / 100) for p, _ in pts]
        ax.plot(xs, [max(v, 1e-3) for _, v in pts], marker="o", markersize=3, color=c, label=t)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [0, 50, 90, 99, 99.9, 99.99]
    ax.xaxis.set_major_locator(FixedLocator([1 / (1 - p / 100) for p in ticks]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"p{100 * (1 - 1 / x):g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency, ms (log; lower is better)")
    ax.set_title(f"{name}: latency by percentile (mean over rounds)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "latency.png")
    plt.close(fig)
    made.append("latency.png")

    # Resources: CPU per 1k requests and peak RSS.
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.6), dpi=110)
    for ax, key, label in ((a1, "cpu_us_per_req", "CPU µs per request"), (a2, "peak_rss_mib", "peak RSS, MiB")):
        vals = [summary[t][key] or 0 for t in targets]
        bars = ax.bar(targets, vals, color=colors, width=0.6)
        for b, v in zip(bars, vals):
            ax.annotate(f"{v:.1f}", (b.get_x() + b.get_width() / 2, v), ha="center", va="bottom", fontsize=9,
                        xytext=(0, 2), textcoords="offset points")
        ax.set_title(f"{label} (lower is better)", fontsize=10)
        ax.set_ylim(0, max(vals + [1e-9]) * 1.2)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{name}: proxy process cost", fontsize=11)
    fig.tight_layout()
    fig.savefig(outdir / "resources.png")
    plt.close(fig)
    made.append("resources.png")
    return made


LEDGER_KEYS = ["requests", "payments_executed", "duplicate_payments", "refunds", "duplicate_refunds",
               "injected_errors", "dropped_connections"]


def ledger_lines(results: dict) -> list[str]:
    """The mock backend's ledger: what each target's runs made it do (summed over the rounds;
    a duplicate payment is the proxy's doing when only it ran), then its totals at the end."""
    lines: list[str] = []
    per_target: dict[str, dict[str, int]] = {}
    for r in results.get("runs", []):
        for k, v in (r.get("ledger") or {}).items():
            per_target.setdefault(r["target"], {}).setdefault(k, 0)
            per_target[r["target"]][k] += v
    if per_target:
        lines += ["## Backend ledger by target (all rounds)", "", "| target | " + " | ".join(LEDGER_KEYS) + " |",
                  "|---|" + "---:|" * len(LEDGER_KEYS)]
        lines += ["| " + t + " | " + " | ".join(str(counts.get(k, "")) for k in LEDGER_KEYS) + " |" for t, counts in per_target.items()]
        lines.append("")
    b = results.get("backend_stats") or {}
    if b:
        lines += ["## Backend ledger at the end", "", "| " + " | ".join(LEDGER_KEYS) + " |", "|" + "---:|" * len(LEDGER_KEYS),
                  "| " + " | ".join(str(b.get(k, "")) for k in LEDGER_KEYS) + " |", ""]
    return lines
