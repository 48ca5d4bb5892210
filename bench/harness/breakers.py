"""Phases and breakers (backend-fail, backend-slow): a scenario whose backend timeline names
phases (healthy, failing, recovering) runs one wrk per phase, back to back, the backend switched
between them, so every phase has its own client-visible latency and answers by origin (2xx,
sluice's 503 circuit_open, the backend's error relayed, the proxy's own error), and the backend's
request count tells what reached it. Each proxy's breaker-like state is followed in its output
as it changes, timed by the runner (none of them prints precise times), the way the overload
report follows sluice's degrade level:

- sluice: `sluice: breaker <name> <from> -> <to> (<reason>)` on stderr;
- HAProxy: `Server <backend>/<server> is DOWN|UP, reason: ...` on stderr (`observe layer7`
  marking it down, the health checks bringing it back);
- nginx: no state line; `no live upstreams` in its error log (warn level) is a request it
  answered 502 without trying the backend, every server entry being marked failed
  (max_fails / fail_timeout), and `upstream server temporarily disabled` is an entry marked.
"""
from __future__ import annotations

import http.client
import re
import time
from pathlib import Path

from .procs import LineFollower

SLOT_S = 0.25  # one timeline character per 250 ms
# Timeline characters, by precedence within a slot: a half-open moment shows (probes are short),
# else open at any time in the slot, else closed.
CHARS = {"closed": "c", "half_open": "h", "open": "o", "forced_open": "O", "forced_closed": "C"}
PRECEDENCE = ["half_open", "forced_open", "open", "forced_closed", "closed"]
SLUICE_LINE = re.compile(r"^sluice: breaker (\S+) (\S+) -> (\S+) \((.*)\)\s*$")
HAPROXY_LINE = re.compile(r"Server (\S+) is (DOWN|UP)(?:, reason: (.*?))?(?:, check duration: \S+)?\. \d+ active")
NGINX_REFUSED = "no live upstreams"
NGINX_DISABLED = "upstream server temporarily disabled"

# Outcomes in report order; anything else comes after them.
OUTCOME_ORDER = ["2xx", "circuit_open"]
OUTCOME_LABELS = {"2xx": "2xx", "circuit_open": "503 circuit_open", "socket_errors": "socket errors"}


class StateWatcher(LineFollower):
    """One proxy's breaker-like state over time (`kind` sluice, haproxy or nginx), from its
    output file, each change timed when the runner reads it (±20 ms)."""

    def __init__(self, path: Path, kind: str, names: list[str] | None = None):
        self.kind = kind
        self.names = list(names or [])  # breakers (servers) shown even when they never change
        self.events: list[tuple[float, str, str, str, str]] = []  # (monotonic s, name, from, to, reason)
        self.ticks: list[tuple[float, str]] = []                  # nginx: (monotonic s, "refused" | "disabled")
        self._state: dict[str, str] = {n: "closed" for n in self.names}
        super().__init__(path)

    def on_line(self, seen: float, text: str) -> None:
        if self.kind == "sluice":
            m = SLUICE_LINE.match(text)
            if m:
                name, frm, to, why = m.groups()
                self._state[name] = to
                self.events.append((seen, name, frm, to, why))
        elif self.kind == "haproxy":
            m = HAPROXY_LINE.search(text)
            if m:
                name, updown = m.group(1), m.group(2)
                to = "open" if updown == "DOWN" else "closed"
                why = m.group(3) or ""
                self.events.append((seen, name, self._state.get(name, "closed"), to, why))
                self._state[name] = to
        elif self.kind == "nginx":
            if NGINX_REFUSED in text:
                self.ticks.append((seen, "refused"))
            elif NGINX_DISABLED in text:
                self.ticks.append((seen, "disabled"))

    def states_now(self) -> dict[str, str]:
        self.poll()
        with self._lock:
            return dict(self._state)

    def _state_at(self, name: str, t: float) -> str:
        state = "closed"
        for when, n, _, to, _ in self.events:
            if when > t:
                break
            if n == name:
                state = to
        return state

    def window(self, start: float, end: float, phase_starts: list[tuple[str, float]]) -> dict:
        """One measured run: per breaker (sluice) or server (HAProxy) the state at the start,
        each transition (seconds into the run), the time in each state and the ASCII timeline;
        for nginx the refusal lines (`no live upstreams`) and marked entries per phase and the
        slots with refusals (`o`) in the timeline."""
        self.poll()
        duration = max(end - start, 1e-9)
        slots = max(1, int(round(duration / SLOT_S)))
        marks = [(name, round(t - start, 3)) for name, t in phase_starts]
        out: dict = {"kind": self.kind, "slot_s": SLOT_S, "seconds": round(duration, 3), "phase_starts_s": marks,
                     "breakers": {}}
        with self._lock:
            if self.kind == "nginx":
                inside = [(t - start, what) for t, what in self.ticks if start < t <= end]
                line = ["c"] * slots
                for t, what in inside:
                    if what == "refused":
                        line[min(slots - 1, int(t / SLOT_S))] = "o"
                per_phase = {}
                bounds = [t for _, t in marks] + [duration]
                for (name, a), b in zip(marks, bounds[1:]):
                    per_phase[name] = {"refused_lines": sum(1 for t, w in inside if w == "refused" and a <= t < b),
                                       "disabled_lines": sum(1 for t, w in inside if w == "disabled" and a <= t < b)}
                out["breakers"]["backend"] = {
                    "initial": "closed", "transitions": [], "timeline": "".join(line), "per_phase": per_phase,
                    "first_refusal_s": round(min((t for t, w in inside if w == "refused"), default=-1), 3),
                    "last_refusal_s": round(max((t for t, w in inside if w == "refused"), default=-1), 3)}
                return out
            names = self.names + sorted({n for _, n, *_ in self.events} - set(self.names))
            for name in names:
                initial = self._state_at(name, start)
                changes = [(w - start, frm, to, why) for w, n, frm, to, why in self.events if n == name and start < w <= end]
                points = [(0.0, initial)] + [(t, to) for t, _, to, _ in changes] + [(duration, None)]
                seconds_at: dict[str, float] = {}
                for (t0, st), (t1, _) in zip(points, points[1:]):
                    seconds_at[st] = seconds_at.get(st, 0.0) + (t1 - t0)
                line = []
                for i in range(slots):
                    a, b = i * SLOT_S, (i + 1) * SLOT_S
                    before = [st for t, st in points[:-1] if t <= a]
                    seen = [before[-1] if before else initial] + [st for t, st in points[1:-1] if a < t < b]
                    best = min(seen, key=lambda st: PRECEDENCE.index(st) if st in PRECEDENCE else len(PRECEDENCE))
                    line.append(CHARS.get(best, "?"))
                out["breakers"][name] = {
                    "initial": initial,
                    "transitions": [{"at_s": round(t, 3), "from": frm, "to": to, "reason": why} for t, frm, to, why in changes],
                    "seconds_at": {k: round(v, 3) for k, v in seconds_at.items()},
                    "timeline": "".join(line)}
        return out


def sluice_breaker_names(policy: Path) -> list[str]:
    """The breakers a rendered sluice policy declares."""
    import yaml
    names = []
    for f in sorted(Path(policy).glob("*.yaml")):
        doc = yaml.safe_load(f.read_text()) or {}
        names += [b.get("name") for b in doc.get("breakers") or [] if isinstance(b, dict) and b.get("name")]
    return names


def wait_closed(watcher: StateWatcher, url: str | None, probe_path: str, timeout: float) -> bool:
    """Until every breaker (server) the watcher knows is closed again. A sluice breaker leaves
    `open` only when a request comes (the open time is checked on admission), so for sluice a
    GET is sent every 50 ms meanwhile (its probes close it when the backend is well); HAProxy's
    health checks bring its server back by themselves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(st == "closed" for st in watcher.states_now().values()):
            return True
        if url:
            host, port = url.split("//", 1)[1].split(":")
            try:
                c = http.client.HTTPConnection(host, int(port), timeout=5)
                c.request("GET", probe_path)
                c.getresponse().read()
                c.close()
            except OSError:
                pass
        time.sleep(0.05)
    return False


def admin_counters(port: int) -> dict[str, int]:
    """sluice's breaker counters from its admin listener's /metrics: `refused:<breaker>`
    (sluice_breaker_refused_total) and `transitions:<breaker>`."""
    out: dict[str, int] = {}
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode(errors="replace")
        c.close()
    except OSError:
        return out
    for line in text.splitlines():
        m = re.match(r'^sluice_breaker_(refused|transitions)_total\{breaker="([^"]+)"\}\s+(\d+)', line)
        if m:
            out[f"{m.group(1)}:{m.group(2)}"] = int(m.group(3))
    return out


# -- summary, report -------------------------------------------------------------------------

def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def summarize(runs: list[dict], targets: list[str]) -> dict:
    """Per target: per phase (in the scenario's order) the figures summed (requests, answers by
    outcome, backend requests, sluice's own count of circuit_open) or averaged over rounds (req/s,
    p50, p90, p99, p99.9, mean), and each round's breaker states (`states`)."""
    out = {}
    for t in targets:
        main = [r for r in runs if r["target"] == t and r.get("phases")]
        if not main:
            continue
        names = [p["phase"] for p in main[0]["phases"]]
        phases = []
        for name in names:
            parts = [p for r in main for p in r["phases"] if p["phase"] == name]
            outcomes: dict[str, int] = {}
            for p in parts:
                for k, v in p.get("outcomes", {}).items():
                    outcomes[k] = outcomes.get(k, 0) + int(v)
                if p["socket_errors"]:
                    outcomes["socket_errors"] = outcomes.get("socket_errors", 0) + int(p["socket_errors"])
            answered = sum(p["requests"] for p in parts)
            ph = {"phase": name, "rounds": len(parts), "seconds": round(sum(p["seconds"] for p in parts), 3),
                  "requests": answered, "rps": _mean([p["rps"] for p in parts]),
                  "outcomes": order_outcomes(outcomes),
                  "backend_requests": sum(p["backend_requests"] for p in parts)
                  if all(p.get("backend_requests") is not None for p in parts) else None,
                  "mean_ms": _mean([p["mean_ms"] for p in parts])}
            for q in ("50", "90", "99", "99.9"):
                ph[f"p{q}_ms"] = _mean([p["latency_ms"].get(q) for p in parts])
            if any("breaker_refused" in p for p in parts):
                ph["breaker_refused"] = sum(p.get("breaker_refused", 0) for p in parts)
            phases.append(ph)
        s = {"phases": phases}
        states = [{"round": r["round"], **r["states"]} for r in main if r.get("states")]
        if states:
            s["states"] = states
        counters = [r["breaker_counters"] for r in main if r.get("breaker_counters")]
        if counters:
            s["breaker_counters"] = counters
        out[t] = s
    return out


def order_outcomes(outcomes: dict) -> dict:
    def rank(k: str):
        if k in OUTCOME_ORDER:
            return (0, OUTCOME_ORDER.index(k), "")
        if k == "socket_errors":
            return (3, 0, k)
        return (1 if k.endswith("backend") else 2, 0, k)
    return {k: outcomes[k] for k in sorted(outcomes, key=rank)}


def _label(k: str) -> str:
    return OUTCOME_LABELS.get(k, k)


def _ms(v) -> str:
    return "n/a" if v is None else (f"{v:.2f}" if v < 100 else f"{v:.0f}")


def _count(n) -> str:
    return "n/a" if n is None else f"{n:,}"


def _share(n: int, of: int) -> str:
    return f"{100 * n / of:.1f}%" if of else "n/a"


def _timeline_with_marks(line: str, marks: list) -> str:
    """The timeline with `|` where each phase after the first starts."""
    cuts = sorted({min(len(line), max(0, int(round(t / SLOT_S)))) for _, t in marks[1:]})
    out, last = [], 0
    for c in cuts:
        out.append(line[last:c])
        last = c
    out.append(line[last:])
    return "|".join(out)


def _phase_header(line: str, marks: list) -> str:
    cuts = [0] + sorted({min(len(line), max(0, int(round(t / SLOT_S)))) for _, t in marks[1:]}) + [len(line)]
    parts = []
    for (name, _), a, b in zip(marks, cuts, cuts[1:]):
        parts.append(name[:max(0, b - a)].ljust(b - a))
    return "|".join(parts)


def timeline_lines(results: dict, indent: int = 0) -> list[str]:
    """Every target's state timeline, one line per round and breaker, phases marked with `|`."""
    rows = []
    for r in results["runs"]:
        st = r.get("states")
        if not st:
            continue
        for name, b in st["breakers"].items():
            who = f"{r['target']}" + (f" {name}" if st["kind"] == "sluice" else "") + f" r{r['round']}"
            rows.append((who, _timeline_with_marks(b["timeline"], st["phase_starts_s"]), st))
    if not rows:
        return []
    width = max(len(w) for w, *_ in rows) + 2
    first = rows[0][2]
    header = _phase_header(first["breakers"][next(iter(first["breakers"]))]["timeline"], first["phase_starts_s"])
    return [" " * indent + f"{'':<{width}}{header}"] + [" " * indent + f"{w:<{width}}{line}" for w, line, _ in rows]


def markdown(results: dict) -> list[str]:
    ph = results.get("phases") or {}
    if not ph:
        return []
    steps = [st for st in results["scenario"]["backend"]["timeline"] if "phase" in st]
    first = next(iter(ph.values()))["phases"]
    described = []
    for p, st in zip(first, steps):
        setting = ", ".join(f"{k}={v}" for k, v in st["set"].items())
        described.append(f"**{p['phase']}** {p['seconds'] / max(1, p['rounds']):.1f} s"
                         + (f" (backend {setting})" if setting else ""))
    lines = ["## Phases: client-visible latency and answers", "",
             "Each measured run is one wrk run per phase, back to back (fresh connections each; the backend "
             "switched through `POST /__control` between them): " + ", ".join(described) + ". "
             "Latency is wrk's, over every answer of the phase (2xx or not). Answers by origin: `503 circuit_open` "
             "is sluice's breaker refusing; `<status> backend` is the mock backend's own error relayed; "
             "`<status> proxy` is the proxy's own answer (nginx's 502 when every server entry is marked failed, "
             "HAProxy's 503 with its server down). *Backend* is the requests the mock backend received in the phase "
             "(HAProxy's health checks included, about one a second)."
             + ("" if results["scenario"]["load"].get("think_time") not in (None, "0ms", 0, "0s") else
                " The load is a closed loop (no think time): a proxy that answers at once gets many more requests "
                "in, so its whole-run req/s and percentiles above count its fast refusals; compare phase by phase."),
             ""]
    keys: list[str] = []
    for s in ph.values():
        for p in s["phases"]:
            keys += [k for k in p["outcomes"] if k not in keys]
    keys = list(order_outcomes({k: 0 for k in keys}))
    lines += ["| phase | target | requests | req/s | p50 ms | p99 ms | p99.9 ms | backend | "
              + " | ".join(_label(k) for k in keys) + " |",
              "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(keys)]
    for name, t, p in _phase_rows(ph):
        sent = sum(p["outcomes"].values())
        cells = [f"{p['outcomes'][k]:,} ({_share(p['outcomes'][k], sent)})" if p["outcomes"].get(k) else "—" for k in keys]
        lines.append(f"| {name} | {t} | {p['requests']:,} | {p['rps'] or 0:,.0f} | {_ms(p['p50_ms'])} | {_ms(p['p99_ms'])} | "
                     f"{_ms(p['p99.9_ms'])} | {_count(p['backend_requests'])} | "
                     + " | ".join(cells) + " |")
    lines.append("")
    tl = timeline_lines(results)
    if tl:
        lines += ["### Breaker state over time", "",
                  f"One character per {SLOT_S * 1000:.0f} ms of each measured run, `|` where a phase starts: `c` closed "
                  "(the proxy sends requests to the backend), `o` open (it answers by itself: sluice's circuit_open, "
                  "HAProxy with its server marked down, nginx answering `no live upstreams` at least once in the slot), "
                  "`h` sluice's breaker half-open at some time in the slot (probes). Times are when the runner read each "
                  "line (±20 ms); nginx prints no state, only one line per request it refused.", "", "```"] + tl + ["```", ""]
    for r in results["runs"]:
        st = r.get("states")
        if not st or st["kind"] == "nginx":
            continue
        for name, b in st["breakers"].items():
            if not b["transitions"]:
                continue
            what = f"sluice breaker `{name}`" if st["kind"] == "sluice" else f"HAProxy server `{name}`"
            lines += [f"Transitions of {what}, round {r['round']} (seconds into the run; phases start at "
                      + ", ".join(f"{n} {t:.2f} s" for n, t in st["phase_starts_s"]) + "):", ""]
            lines += [f"- {c['at_s']:.2f} s {c['from']} → **{c['to']}** ({c['reason']})" for c in b["transitions"][:40]]
            if len(b["transitions"]) > 40:
                lines.append(f"- … {len(b['transitions']) - 40} more in results.json")
            secs = ", ".join(f"{k} {v:.2f} s" for k, v in b["seconds_at"].items() if v)
            lines += [f"- time in each state: {secs}", ""]
    for t, s in ph.items():
        for c in s.get("breaker_counters", []):
            logged = sum(len(b["transitions"]) for r in results["runs"] if r["target"] == t and r.get("states")
                         for b in r["states"]["breakers"].values())
            seen = sum(p["outcomes"].get("circuit_open", 0) for p in s["phases"])
            lines += [f"sluice's own counters over the measured runs ({t}, admin `/metrics`): "
                      + ", ".join(f"`{k}` {v:,}" for k, v in c.items())
                      + f"; transitions logged: {logged}; circuit_open answers wrk counted: {seen:,}.", ""]
            break
    if "breakers.png" in results.get("charts", []):
        lines += ["![breaker state over time](breakers.png)", ""]
    if "phases.png" in results.get("charts", []):
        lines += ["![latency and answers by phase](phases.png)", ""]
    return lines


def _phase_rows(ph: dict):
    """(phase, target, that target's numbers for the phase), phase by phase in timeline order."""
    names = [p["phase"] for p in next(iter(ph.values()))["phases"]]
    for name in names:
        for t, s in ph.items():
            p = next((x for x in s["phases"] if x["phase"] == name), None)
            if p:
                yield name, t, p


def table(results: dict) -> list[str]:
    """The terminal summary: each phase, each target."""
    ph = results.get("phases") or {}
    if not ph:
        return []
    lines = ["", "by phase (latency over every answer; backend = requests that reached the mock backend):",
             f"{'phase':<12} {'target':<17} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'backend':>8}   answers"]
    for name, t, p in _phase_rows(ph):
        sent = sum(p["outcomes"].values())
        answers = ", ".join(f"{_label(k)} {_share(v, sent)}" for k, v in p["outcomes"].items())
        backend = _count(p["backend_requests"])
        lines.append(f"{name:<12} {t:<17} {p['rps'] or 0:>8,.0f} {_ms(p['p50_ms']):>8} {_ms(p['p99_ms']):>8} "
                     f"{backend:>8}   {answers}")
    tl = timeline_lines(results)
    if tl:
        lines += ["", f"breaker state ({SLOT_S * 1000:.0f} ms/char; c closed, o open, h half-open; | phase start):"] + tl
    for r in results["runs"]:
        st = r.get("states")
        if st and st["kind"] == "sluice":
            for name, b in st["breakers"].items():
                lines.append(f"sluice breaker {name}, round {r['round']}: " + "; ".join(
                    f"{c['at_s']:.2f}s {c['from']}->{c['to']} ({c['reason']})" for c in b["transitions"]))
    return lines


STATE_Y = {"closed": 0.0, "forced_closed": 0.0, "half_open": 0.5, "open": 1.0, "forced_open": 1.0}


def charts(results: dict, outdir: Path) -> list[str]:
    """breakers.png: each target's state over each measured run, phases shaded; phases.png:
    p50 / p99 and the answers by origin, per phase and target."""
    ph = results.get("phases") or {}
    if not ph:
        return []
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    from .report import COLORS
    made = []
    name = results["scenario"]["name"]
    shades = ["#f2f2f2", "#fde0dd", "#e5f5e0", "#deebf7", "#fff7bc"]
    runs = [r for r in results["runs"] if r.get("states")]
    if runs:
        rows = [(r, bname, b) for r in runs for bname, b in r["states"]["breakers"].items()]
        fig, axes = plt.subplots(len(rows), 1, figsize=(9, 0.9 + 1.05 * len(rows)), dpi=110, sharex=True, squeeze=False)
        for ax, (r, bname, b) in zip(axes[:, 0], rows):
            st = r["states"]
            bounds = [t for _, t in st["phase_starts_s"]] + [st["seconds"]]
            for i, ((pname, a), z) in enumerate(zip(st["phase_starts_s"], bounds[1:])):
                ax.axvspan(a, z, color=shades[i % len(shades)], zorder=0)
                if ax is axes[0, 0]:
                    ax.text((a + z) / 2, 1.32, pname, ha="center", va="bottom", fontsize=8)
            color = COLORS.get(r["target"], "#7f7f7f")
            if st["kind"] == "nginx":
                xs = [i * SLOT_S for i, ch in enumerate(b["timeline"]) if ch == "o"]
                ax.bar(xs, [1.0] * len(xs), width=SLOT_S, align="edge", color=color, alpha=0.8, label="answered 502 no live upstreams")
                ax.legend(fontsize=7, loc="upper right")
            else:
                xs, ys = [0.0], [STATE_Y.get(b["initial"], 0.0)]
                for c in b["transitions"]:
                    xs += [c["at_s"], c["at_s"]]
                    ys += [ys[-1], STATE_Y.get(c["to"], 0.0)]
                xs.append(st["seconds"])
                ys.append(ys[-1])
                ax.plot(xs, ys, color=color, linewidth=1.6)
            ax.set_yticks([0, 0.5, 1])
            ax.set_yticklabels(["closed", "half-open", "open"] if st["kind"] == "sluice" else
                               ["up", "", "down"] if st["kind"] == "haproxy" else ["", "", "refusing"], fontsize=7)
            ax.set_ylim(-0.15, 1.3)
            who = {"sluice": f"sluice breaker {bname}", "haproxy": f"HAProxy server {bname}",
                   "nginx": "nginx (max_fails)"}[st["kind"]]
            ax.set_ylabel(f"{who}\nround {r['round']}", fontsize=7, rotation=0, ha="right", va="center")
            ax.grid(axis="x", alpha=0.3)
        axes[-1, 0].set_xlabel("seconds into the measured run")
        fig.suptitle(f"{name}: breaker state over time (as read from each proxy's log)", fontsize=10)
        fig.tight_layout()
        fig.savefig(outdir / "breakers.png")
        plt.close(fig)
        made.append("breakers.png")

    targets = list(ph)
    names = [p["phase"] for p in ph[targets[0]]["phases"]]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    width = 0.8 / max(1, len(targets))
    for i, t in enumerate(targets):
        ps = {p["phase"]: p for p in ph[t]["phases"]}
        xs = [j + (i - (len(targets) - 1) / 2) * width for j in range(len(names))]
        p50 = [max(ps[n]["p50_ms"] or 0, 1e-3) for n in names]
        p99 = [max(ps[n]["p99_ms"] or 0, 1e-3) for n in names]
        color = COLORS.get(t, "#7f7f7f")
        a1.bar(xs, p99, width=width * 0.9, color=color, alpha=0.35)
        a1.bar(xs, p50, width=width * 0.9, color=color, label=t)
    a1.set_yscale("log")
    a1.set_xticks(range(len(names)))
    a1.set_xticklabels(names)
    a1.set_ylabel("ms (log): p50 solid, p99 light")
    a1.set_title("client-visible latency by phase", fontsize=10)
    a1.grid(axis="y", alpha=0.3, which="both")
    lo, hi = a1.get_ylim()
    a1.set_ylim(lo, hi * 6)  # room for the legend above the bars
    a1.legend(fontsize=7, ncol=len(targets), loc="upper center")
    kinds = ["2xx", "circuit_open", "backend", "proxy", "other"]
    kcolors = {"2xx": "#2ca02c", "circuit_open": "#1f77b4", "backend": "#ff7f0e", "proxy": "#d62728", "other": "#7f7f7f"}
    labels = []
    pos = 0
    for j, n in enumerate(names):
        for i, t in enumerate(targets):
            p = next(x for x in ph[t]["phases"] if x["phase"] == n)
            sent = sum(p["outcomes"].values()) or 1
            parts = {k: 0 for k in kinds}
            for k, v in p["outcomes"].items():
                kind = k if k in ("2xx", "circuit_open") else "backend" if k.endswith("backend") else \
                    "proxy" if k.endswith("proxy") else "other"
                parts[kind] += v
            bottom = 0.0
            for k in kinds:
                share = 100 * parts[k] / sent
                a2.bar(pos, share, bottom=bottom, color=kcolors[k], width=0.8,
                       label=k if (j == 0 and i == 0) else None)
                bottom += share
            labels.append((pos, f"{t}\n{n}"))
            pos += 1
        pos += 0.6
    a2.set_xticks([x for x, _ in labels])
    a2.set_xticklabels([l for _, l in labels], fontsize=6, rotation=90)
    a2.set_ylabel("% of answers")
    a2.set_title("answers by origin (backend: its error relayed; proxy: its own)", fontsize=10)
    a2.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{name}: by phase", fontsize=11)
    fig.tight_layout()
    fig.savefig(outdir / "phases.png")
    plt.close(fig)
    made.append("phases.png")
    return made
