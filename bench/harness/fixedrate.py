"""The fixed-rate mode (`load.fixed_rates`, e.g. [0.5, 0.8]): after the saturation rounds, each
target is driven at those fractions of its own measured peak, so latency is compared where
proxies actually run, not only at saturation. The rate is h2load's (`--rps`, per connection: the
rate divided by the connections), for every protocol: h2load over HTTP/2 for h2-tls scenarios,
where the peak is the saturation rounds' mean req/s; `h2load --h1` (no pipelining) for h1 and
h1-tls, whose rounds ran wrk's mix, so the peak is measured again first with h2load on the
traffic it can send (one method: the mix's GET routes, or its POSTs when all are) and the
fractions are of that peak.

How even the offered load is. h2load's --rps timers would all start at once, so every client
sent in the same millisecond: at 50% of a ~19k req/s peak (64 connections at 151.5 req/s each)
the requests arrived as 64 in one ms and none in the next ~10 (per-ms counts of send times from
h2load's log: p50 0, p90 64, max 128; 80% of milliseconds empty), and p50/p99 there were no lower
than at saturation. The clients' starts are now staggered, one connection per ms per thread
(`-r THREADS --rate-period 1ms`, load.h2load_cmd), so their timers are spread over `connections`
ms. What remains: h2load sends a client's due requests when its event loop next runs, and
clients due in the same loop iteration still go together, so the load is close to uniform at
1 ms resolution but burstier than random arrivals: the same 9.7k req/s now gives per-ms counts
of p50 10, p90 16, p99 21-25, max 45-66 (bursts of at most ~2-7x the mean in a millisecond),
with 5-8% of milliseconds empty; at 15k req/s (was p50 0, p90 64, max 128, 71% empty) p50 15,
p90 27, p99 43, max 70, 9% empty: the higher the rate, the burstier.

The achieved rate stays honest: with -r, h2load sends a fixed number of requests (rate x
duration) and its req/s is those over the time they took, the ramp of `connections` ms
included (so it reads ~2% low on a 3 s run of 64 connections, and a target that falls behind
reads lower still: `behind` under 95% of the offered rate). h2load times each request from
when it is sent, not from when it was due: if a target falls behind the rate, its latency is
understated (the achieved rate shows it)."""
from __future__ import annotations

from typing import Callable

from .procs import log

BEHIND = 0.95  # achieved below this share of the offered rate: the target (or the machine) fell behind


def run(order_peak: list[str], orders: list[list[str]], fractions: list[float], main_peaks: dict[str, float] | None,
        drive: Callable[[str, float | None], dict]) -> dict:
    """`drive(target, rate)` runs h2load against the target at `rate` req/s (None: unbounded, the
    peak) and returns its figures with cpu_s. `main_peaks`: the saturation rounds' req/s per
    target when they ran the same load tool, else None (the peak is measured here, in the order
    `order_peak`). `orders`: one order of the targets per fraction."""
    peaks: dict[str, dict] = {}
    runs: list[dict] = []
    if main_peaks is None:
        for t in order_peak:
            r = drive(t, None)
            runs.append({"target": t, "fraction": None, "offered_rps": None, **r})
            peaks[t] = {"rps": r["rps"], "source": "h2load --h1, unbounded, before the fixed rates"}
            log(f"fixed rate: {t} peak (h2load) {r['rps']:,.0f} req/s")
    else:
        peaks = {t: {"rps": v, "source": "the saturation rounds' mean"} for t, v in main_peaks.items()}
    for frac, order in zip(fractions, orders):
        for t in order:
            rate = frac * peaks[t]["rps"]
            r = drive(t, rate)
            runs.append({"target": t, "fraction": frac, "offered_rps": rate, **r})
            log(f"fixed rate: {t} at {frac:.0%} of its peak ({rate:,.0f} req/s): achieved {r['rps']:,.0f}, "
                f"p50 {r['latency_ms'].get('50', 0):.2f} ms, p99 {r['latency_ms'].get('99', 0):.2f} ms, "
                f"CPU {r['cpu_us_per_req'] or 0:.1f} µs/req")
    summary: dict[str, dict] = {}
    for r in runs:
        if r["fraction"] is None:
            continue
        summary.setdefault(r["target"], {})[f"{r['fraction']:g}"] = {
            "offered_rps": r["offered_rps"], "rps": r["rps"],
            "p50_ms": r["latency_ms"].get("50"), "p99_ms": r["latency_ms"].get("99"),
            "p99.9_ms": r["latency_ms"].get("99.9"), "cpu_us_per_req": r["cpu_us_per_req"],
            "errors": r["non_2xx"] + r["socket_errors"], "behind": r["rps"] < BEHIND * r["offered_rps"],
            "others_cpu_pct": r.get("others_cpu_pct")}
    return {"fractions": fractions, "orders": orders, "peaks": peaks, "runs": runs, "summary": summary}


def lines(results: dict, markdown: bool) -> list[str]:
    fr = results.get("fixed_rate")
    if not fr:
        return []
    head = ("Fixed rate: latency at " + ", ".join(f"{f:.0%}" for f in fr["fractions"])
            + " of each target's own peak (h2load --rps, clients started 1 ms apart)")
    out = [f"## {head}", ""] if markdown else [f"\n{head}"]
    if markdown:
        out += ["| target | peak req/s (from) | at | offered req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | "
                "CPU µs/req | errors | others % of a core |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t, by in fr["summary"].items():
        peak = fr["peaks"][t]
        for frac, x in by.items():
            if markdown:
                out.append(f"| {t} | {peak['rps']:,.0f} ({peak['source']}) | {float(frac):.0%} | {x['offered_rps']:,.0f} | "
                           f"{x['rps']:,.0f}{' (behind)' if x['behind'] else ''} | {x['p50_ms'] or 0:.3f} | "
                           f"{x['p99_ms'] or 0:.3f} | {x['p99.9_ms'] or 0:.3f} | {x['cpu_us_per_req'] or 0:.1f} | "
                           f"{x['errors']} | {x['others_cpu_pct'] or 0:.0f} |")
            else:
                out.append(f"{t:<16} {float(frac):>4.0%} of {peak['rps']:>9,.0f}: {x['rps']:>9,.0f} req/s"
                           f"{' (behind)' if x['behind'] else '         '}  "
                           f"p50 {x['p50_ms'] or 0:7.3f}  p99 {x['p99_ms'] or 0:7.3f}  p99.9 {x['p99.9_ms'] or 0:7.3f} ms  "
                           f"CPU {x['cpu_us_per_req'] or 0:6.1f} µs/req")
    if markdown:
        out += ["", "The peak: " + ("the saturation rounds' mean req/s (the same h2load load)."
                                    if all(p["source"].startswith("the saturation") for p in fr["peaks"].values())
                                    else "measured again with h2load --h1 on the traffic it can send (wrk's mix "
                                         "has more than h2load can), unbounded, before the fixed rates.")
                + f" (behind): achieved under {BEHIND:.0%} of the offered rate, so the target or the machine fell "
                  "behind and the latency is understated (h2load times requests from when they are sent); "
                  "others: what other processes took meanwhile.", ""]
    return out
