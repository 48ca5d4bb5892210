"""The overload report: a scenario whose mix gives each route a class (core / non-core) runs one
wrk per class (harness.load.run_wrk_classes), an unloaded run of the same mix before each
measured one, and here the figures issue 12 asks for, per target: core success rate and core
p99 against the unloaded run, non-core outcomes by level, and sluice's degrade level over time
(from its stderr lines `sluice: degrade level <level> (...)`, timed as the runner sees them)."""
from __future__ import annotations

import re
import time
from pathlib import Path

from .procs import LineFollower

LEVELS = ("normal", "throttle", "fallback", "shed")
LEVEL_CHARS = {"normal": "n", "throttle": "t", "fallback": "f", "shed": "s"}
SLOT_S = 0.25  # one timeline character per 250 ms
CORE_SUCCESS_TARGET = 0.999
CORE_P99_RATIO_TARGET = 2.0
LEVEL_LINE = re.compile(r"^sluice: degrade level (\w+) \((.*)\)\s*$")

# Non-core outcomes in report order; anything else (another status) is listed after them.
OUTCOME_ORDER = ["2xx", "fallback-cached", "fallback-static", "degraded:throttle", "degraded:fallback",
                 "degraded:shed", "bulkhead_full", "bulkhead_merchant_share"]
OUTCOME_LABELS = {"2xx": "forwarded (2xx)", "fallback-cached": "fallback-cached", "fallback-static": "fallback-static",
                  "degraded:throttle": "503 degraded (throttle)", "degraded:fallback": "503 degraded (fallback)",
                  "degraded:shed": "503 degraded (shed)", "bulkhead_full": "503 bulkhead_full",
                  "bulkhead_merchant_share": "429 bulkhead_merchant_share", "socket_errors": "socket errors"}


class LevelWatcher(LineFollower):
    """Follows sluice's stderr file (sluice prints no timestamps) and times each degrade level
    line when it appears (polled every 20 ms, so times are good to ~20 ms)."""

    def __init__(self, path: Path):
        self.events: list[tuple[float, str, str]] = []  # (monotonic s, level, reason)
        super().__init__(path)

    def on_line(self, seen: float, text: str) -> None:
        m = LEVEL_LINE.match(text)
        if m:
            self.events.append((seen, m.group(1), m.group(2)))

    def level_at(self, t: float) -> str:
        with self._lock:
            level = "normal"
            for when, lvl, _ in self.events:
                if when > t:
                    break
                level = lvl
            return level

    def wait_normal(self, timeout: float) -> bool:
        """Until the level is back to normal (the ladder steps down one level per cooldown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if self.level_at(time.monotonic()) == "normal":
                return True
            time.sleep(0.1)
        return False

    def window(self, start: float, end: float) -> dict:
        """The levels of one run: the level at its start, each change (seconds into the run),
        the time at each level, and the ASCII timeline (one character per SLOT_S)."""
        self.poll()
        with self._lock:
            changes = [(w - start, lvl, why) for w, lvl, why in self.events if start < w <= end]
        initial = self.level_at(start)
        duration = max(end - start, 1e-9)
        seconds_at = {lvl: 0.0 for lvl in LEVELS}
        points = [(0.0, initial)] + [(t, lvl) for t, lvl, _ in changes] + [(duration, None)]
        for (t0, lvl), (t1, _) in zip(points, points[1:]):
            seconds_at[lvl] = seconds_at.get(lvl, 0.0) + (t1 - t0)
        slots = []
        for i in range(max(1, int(round(duration / SLOT_S)))):
            a, b = i * SLOT_S, (i + 1) * SLOT_S
            inside = [lvl for t, lvl in points[:-1] if t < b]
            at_a = inside[-1] if inside else initial
            seen = [at_a] + [lvl for t, lvl in points[1:-1] if a <= t < b]
            slots.append(LEVEL_CHARS.get(max(seen, key=_rank), "?"))
        return {"initial": initial, "changes": [{"at_s": round(t, 3), "level": lvl, "reason": why} for t, lvl, why in changes],
                "seconds_at": {k: round(v, 3) for k, v in seconds_at.items()}, "timeline": "".join(slots),
                "slot_s": SLOT_S}


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def summarize(runs: list[dict], targets: list[str], think_s: float = 0.0) -> dict:
    """Per target, over the rounds: core success rate (2xx answers / core requests sent, where
    sent = answered + socket errors), core p99 and the unloaded run's core p99 (means over
    rounds), non-core outcomes (summed), sluice's time at each level, and the offered rate: what
    the connections would send if every answer came as fast as in the unloaded run
    (connections / (think time + unloaded mean latency), per class)."""
    out = {}
    for t in targets:
        main = [r for r in runs if r["target"] == t and r.get("phase") == "overload" and "classes" in r]
        base = [r for r in runs if r["target"] == t and r.get("phase") == "unloaded" and "classes" in r]
        if not main:
            continue
        core = [r["classes"]["core"] for r in main if "core" in r["classes"]]
        noncore = [r["classes"]["noncore"] for r in main if "noncore" in r["classes"]]
        core_base = [r["classes"]["core"] for r in base if "core" in r["classes"]]
        s: dict = {"rounds": len(main)}
        sent = sum(c["requests"] + c["socket_errors"] for c in core)
        ok = sum(c.get("outcomes", {}).get("2xx", 0) for c in core)
        s["core_requests_sent"] = sent
        s["core_2xx"] = ok
        s["core_success_rate"] = ok / sent if sent else None
        s["core_outcomes"] = _sum_outcomes(core)
        s["core_rps"] = _mean([c["rps"] for c in core])
        s["core_p50_ms"] = _mean([c["latency_ms"].get("50") for c in core])
        s["core_p99_ms"] = _mean([c["latency_ms"].get("99") for c in core])
        s["core_p99_unloaded_ms"] = _mean([c["latency_ms"].get("99") for c in core_base])
        s["core_p50_unloaded_ms"] = _mean([c["latency_ms"].get("50") for c in core_base])
        s["core_p99_ratio"] = (s["core_p99_ms"] / s["core_p99_unloaded_ms"]
                               if s["core_p99_ms"] is not None and s["core_p99_unloaded_ms"] else None)
        s["meets_target"] = (s["core_success_rate"] is not None and s["core_success_rate"] >= CORE_SUCCESS_TARGET
                             and s["core_p99_ratio"] is not None and s["core_p99_ratio"] <= CORE_P99_RATIO_TARGET)
        s["noncore_outcomes"] = _sum_outcomes(noncore)
        s["noncore_requests"] = sum(c["requests"] + c["socket_errors"] for c in noncore)
        s["noncore_rps"] = _mean([c["rps"] for c in noncore])
        s["noncore_p99_ms"] = _mean([c["latency_ms"].get("99") for c in noncore])
        total = sent + s["noncore_requests"]
        s["noncore_share"] = s["noncore_requests"] / total if total else None
        s["connections"] = {k: v.get("connections") for k, v in main[0]["classes"].items()}
        s["unloaded_connections"] = {k: v.get("connections") for k, v in base[0]["classes"].items()} if base else {}
        s["unloaded_rps"] = _mean([r["rps"] for r in base])
        offered = 0.0
        for c, x in main[0]["classes"].items():
            lat = _mean([r["classes"][c]["mean_ms"] for r in base if c in r["classes"]]) or 0.0
            if think_s or lat:
                offered += x["connections"] / (think_s + lat / 1000)
        s["offered_rps"] = offered or None
        s["answered_rps"] = _mean([r["rps"] for r in main])
        levels = [r["levels"] for r in main if r.get("levels")]
        if levels:
            s["levels"] = {
                "seconds_at": {lvl: round(sum(x["seconds_at"].get(lvl, 0) for x in levels), 3) for lvl in LEVELS},
                "reached": max((lvl for x in levels for lvl in [x["initial"]] + [c["level"] for c in x["changes"]]),
                               key=_rank, default="normal"),
                "changes": sum(len(x["changes"]) for x in levels),
            }
        out[t] = s
    return out


def _sum_outcomes(parts: list[dict]) -> dict:
    total: dict[str, int] = {}
    for p in parts:
        for k, v in p.get("outcomes", {}).items():
            total[k] = total.get(k, 0) + int(v)
        if p.get("socket_errors"):
            total["socket_errors"] = total.get("socket_errors", 0) + int(p["socket_errors"])
    ordered = {k: total[k] for k in OUTCOME_ORDER if k in total}
    ordered.update({k: total[k] for k in sorted(total) if k not in ordered})
    return ordered


def _label(key: str) -> str:
    if key in OUTCOME_LABELS:
        return OUTCOME_LABELS[key]
    return f"{key} (other)" if key.isdigit() else key


def _pct(n: int, of: int) -> str:
    return f"{100 * n / of:.1f}%" if of else "n/a"


def _ms(v) -> str:
    return "n/a" if v is None else (f"{v:.2f}" if v < 100 else f"{v:.0f}")


def markdown(results: dict) -> list[str]:
    ov = results.get("overload") or {}
    if not ov:
        return []
    sc = results["scenario"]
    lines = ["## Overload: core payments vs non-core queries", "",
             f"Issue 12's target: core routes ≥ {100 * CORE_SUCCESS_TARGET:g}% success with p99 ≤ "
             f"{CORE_P99_RATIO_TARGET:g}× the unloaded run's, while non-core routes shed. One wrk per class at the "
             f"same time (core: {', '.join(r['name'] for r in sc['traffic']['mix'] if r['class'] == 'core')}; "
             f"non-core: {', '.join(r['name'] for r in sc['traffic']['mix'] if r['class'] == 'noncore')}), connections "
             f"split by the classes' weights, think time {sc['load']['think_time']} per connection between an answer "
             f"and its next request; the unloaded run is the same mix with {sc['unloaded']['connections']} connections "
             f"for {sc['unloaded']['duration']}, right before each measured run. Success = 2xx answers / core requests "
             f"sent (answered + socket errors).", ""]
    ref = ov.get("sluice-unguarded")
    if ref and ref.get("offered_rps") and ref.get("answered_rps"):
        lines += [f"Load: offered ≈ {ref['offered_rps']:,.0f} req/s (connections / (think time + the unloaded run's "
                  f"mean latency)); sluice without its guards (`sluice-unguarded`, every request forwarded) got "
                  f"{ref['answered_rps']:,.0f} req/s through under it: the offered load is "
                  f"{ref['offered_rps'] / ref['answered_rps']:.1f}× that (its best on a quiet box of this kind, "
                  f"closed loop, is ~19k req/s: bench/README.md).", ""]
    lines += ["| target | core success | core 2xx / sent | core p50 ms | core p99 ms | unloaded core p99 ms | "
              "p99 ratio | core req/s | non-core req/s | non-core share | offered req/s | target met | "
              "sluice level reached |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for t, s in ov.items():
        rate, ratio, share = s["core_success_rate"], s["core_p99_ratio"], s["noncore_share"]
        cells = ["n/a" if rate is None else f"{100 * rate:.3f}%", f"{s['core_2xx']:,} / {s['core_requests_sent']:,}",
                 _ms(s["core_p50_ms"]), _ms(s["core_p99_ms"]), _ms(s["core_p99_unloaded_ms"]),
                 "n/a" if ratio is None else f"{ratio:.2f}×", f"{s['core_rps'] or 0:,.0f}", f"{s['noncore_rps'] or 0:,.0f}",
                 "n/a" if share is None else f"{100 * share:.0f}%",
                 "n/a" if not s.get("offered_rps") else f"{s['offered_rps']:,.0f}", "yes" if s["meets_target"] else "no",
                 s.get("levels", {}).get("reached", "—")]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines.append("")
    keys: list[str] = []
    for s in ov.values():
        keys += [k for k in s["noncore_outcomes"] if k not in keys]
    keys = [k for k in OUTCOME_ORDER if k in keys] + [k for k in keys if k not in OUTCOME_ORDER]
    if keys:
        lines += ["### Non-core outcomes (share of non-core requests sent)", "",
                  "| outcome | " + " | ".join(ov) + " |", "|---|" + "---:|" * len(ov)]
        for k in keys:
            cells = []
            for s in ov.values():
                n, of = s["noncore_outcomes"].get(k, 0), s["noncore_requests"]
                cells.append(f"{n:,} ({_pct(n, of)})" if n else "—")
            lines.append(f"| {_label(k)} | " + " | ".join(cells) + " |")
        lines.append("")
        lines += ["The peers have no degraded answers: their refusals are their own 503 (nginx `limit_conn`; "
                  "HAProxy's queue bound or `timeout queue`), listed as `503 (other)`.", ""]
    core_keys = sorted({k for s in ov.values() for k in s["core_outcomes"] if k != "2xx"})
    if core_keys:
        lines += ["Core requests that did not get a 2xx: " + "; ".join(
            f"{t}: " + ", ".join(f"{_label(k)} {s['core_outcomes'][k]:,}" for k in core_keys if s["core_outcomes"].get(k))
            for t, s in ov.items() if any(s["core_outcomes"].get(k) for k in core_keys)) + ".", ""]
    timelines = [(r["round"], r["target"], r["levels"]) for r in results["runs"]
                 if r.get("phase") == "overload" and r.get("levels")]
    if timelines:
        lines += ["### sluice's degrade level over time", "",
                  f"One character per {SLOT_S * 1000:.0f} ms of the measured run (the highest level in that slot): "
                  "`n` normal, `t` throttle, `f` fallback, `s` shed. Times are when the runner read each "
                  "`sluice: degrade level` line from sluice's stderr (±20 ms).", "", "```"]
        for rnd, t, lv in timelines:
            secs = ", ".join(f"{k} {v:.1f} s" for k, v in lv["seconds_at"].items() if v)
            lines.append(f"round {rnd} {t}: {lv['timeline']}")
            lines.append(f"{'':>{len(f'round {rnd} {t}: ')}}(started at {lv['initial']}; {secs}; "
                         f"{len(lv['changes'])} change(s))")
        lines += ["```", ""]
        for rnd, t, lv in timelines:
            if lv["changes"]:
                lines += [f"Level changes, round {rnd} (seconds into the run, sluice's reason):", ""]
                lines += [f"- {c['at_s']:.2f} s → **{c['level']}** ({c['reason']})" for c in lv["changes"][:40]]
                if len(lv["changes"]) > 40:
                    lines.append(f"- … {len(lv['changes']) - 40} more in results.json")
                lines.append("")
    if "levels.png" in results.get("charts", []):
        lines += ["![degrade level over time](levels.png)", ""]
    return lines


def table(results: dict) -> list[str]:
    """The terminal summary of the overload figures."""
    ov = results.get("overload") or {}
    if not ov:
        return []
    lines = ["", f"overload (target: core success ≥ {100 * CORE_SUCCESS_TARGET:g}%, core p99 ≤ "
                 f"{CORE_P99_RATIO_TARGET:g}× unloaded):",
             f"{'target':<16} {'core ok':>9} {'core p99':>9} {'unloaded':>9} {'ratio':>6} {'met':>4}   non-core outcomes"]
    for t, s in ov.items():
        rate = s["core_success_rate"]
        outcomes = ", ".join(f"{_label(k)} {_pct(v, s['noncore_requests'])}" for k, v in s["noncore_outcomes"].items())
        ratio = s["core_p99_ratio"]
        lines.append(f"{t:<16} {'n/a' if rate is None else f'{100 * rate:.3f}%':>9} {_ms(s['core_p99_ms']):>9} "
                     f"{_ms(s['core_p99_unloaded_ms']):>9} {'n/a' if ratio is None else f'{ratio:.2f}x':>6} "
                     f"{'yes' if s['meets_target'] else 'no':>4}   {outcomes}")
    for r in results["runs"]:
        if r.get("phase") == "overload" and r.get("levels"):
            lines.append(f"sluice level, round {r['round']} ({SLOT_S * 1000:.0f} ms/char): {r['levels']['timeline']}")
    return lines


def chart(results: dict, outdir: Path) -> list[str]:
    """levels.png: sluice's level over each measured run (a step line per round)."""
    runs = [r for r in results["runs"] if r.get("phase") == "overload" and r.get("levels")]
    if not runs:
        return []
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110)
    for r in runs:
        lv = r["levels"]
        xs, ys = [0.0], [_rank(lv["initial"])]
        for c in lv["changes"]:
            xs += [c["at_s"], c["at_s"]]
            ys += [ys[-1], _rank(c["level"])]
        xs.append(r["seconds"])
        ys.append(ys[-1])
        ax.plot(xs, ys, drawstyle="default", linewidth=1.6, label=f"round {r['round']}")
    ax.set_yticks(range(len(LEVELS)))
    ax.set_yticklabels(LEVELS)
    ax.set_ylim(-0.3, len(LEVELS) - 0.7)
    ax.set_xlabel("seconds into the measured run")
    ax.set_title(f"{results['scenario']['name']}: sluice's degrade level over time")
    ax.grid(alpha=0.3)
    if len(runs) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(outdir / "levels.png")
    plt.close(fig)
    return ["levels.png"]
