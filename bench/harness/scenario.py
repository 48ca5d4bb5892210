"""Scenario files (bench/scenarios/*.yaml): loaded, defaults filled in, checked. Unknown keys
are errors, as in policy files: a typo must not silently change what is measured."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from .procs import BenchError

PROTOCOLS = ("h1", "h1-tls", "h2-tls")
PEERS = ("nginx", "haproxy", "h2o", "nghttpx", "sluice-unguarded")
BACKENDS = ("mock", "static")
KINDS = ("plain", "create_json", "create_xml", "query", "refund", "close")
CLASSES = ("core", "noncore")

DEFAULTS = {
    "description": "",
    "protocol": "h1",
    "workers": 1,
    "policy": "bare",
    "peers": ["nginx", "haproxy"],
    "redis": False,
    # kind mock: sluice-demo-backend (payment behaviour: ledger, latency, failures); kind static:
    # nginx answering 200 at once, cheaper than any proxy (the speed baselines), measured alone too.
    "backend": {"kind": "mock", "workers": 1, "settings": {}, "seed_orders": 0, "timeline": []},
    "load": {"connections": 64, "threads": 1, "streams": 1, "duration": "10s", "warmup": "3s",
             "rounds": 2, "timeout": "10s", "think_time": "0ms",
             # new_connection: every request on a fresh connection (wrk: Connection: close), so
             # over TLS every request pays a full handshake: handshakes per second.
             "new_connection": False,
             # fixed_rates: after the rounds, each target at these fractions of its own peak
             # (h2load --rps), e.g. [0.5, 0.8]: latency below saturation (harness/fixedrate.py).
             "fixed_rates": []},
    # Optional: before each measured run, the same mix at low load (this many connections, this
    # long): the baseline that per-class latency is compared with (connections 0: none).
    "unloaded": {"connections": 0, "duration": "5s"},
    # Optional: the idle-connections mode (connections > 0): instead of load rounds, this many
    # connections opened to each target in turn (after its warm-up), each after one GET `path`
    # when request_first, and RSS per idle connection measured `settle` after the last one.
    "idle": {"connections": 0, "request_first": True, "settle": "1s", "path": "/bench/ping"},
    # Optional: the peers' closest configuration to sluice's bulkheads, one entry per group of
    # routes: {name, prefix (absent: every other request), methods, max_concurrent, queue,
    # queue_timeout}. nginx: limit_conn per location; HAProxy: a backend per group, maxconn + queue.
    "peer_limits": [],
    # Optional: the peers' nearest equivalents of sluice's circuit breaker (backend-fail,
    # backend-slow). nginx: max_fails / fail_timeout on the upstream server, which nginx ignores
    # with one `server` line, so the backend is listed twice; HAProxy: `observe layer7` with
    # `error-limit` and `on-error mark-down`, and the health checks `observe` needs.
    "peer_breaker": {},
    "traffic": {"merchants": ["1900000001"], "mix": [{"name": "ping", "method": "GET", "path": "/bench/ping"}]},
}
ROUTE_DEFAULTS = {"method": "GET", "weight": 1, "kind": "plain", "body_bytes": 0, "class": ""}
PEER_BREAKER_DEFAULTS = {
    "nginx": {"max_fails": 10, "fail_timeout": "1s", "servers": 2,
              "next_upstream": "error timeout http_502 http_503 http_504"},
    "haproxy": {"error_limit": 25, "check_path": "/health", "inter": "1s", "fastinter": "250ms", "downinter": "1s",
                "rise": 2, "fall": 3},
}
PEER_LIMIT_DEFAULTS = {"name": "", "prefix": "", "methods": [], "max_concurrent": 0, "queue": 0, "queue_timeout": "100ms"}


# What wrk (-d, --timeout) and h2load (-D, -T) both accept: a whole number of seconds, minutes or
# hours; wrk refuses fractions and milliseconds (its usage text, after everything has started).
LOAD_TOOL_DURATION = re.compile(r"(\d+)(s|m|h)?")
TARGETS = ("sluice", *PEERS)


def load_tool_duration(value, what: str, least: int = 1) -> str:
    """`value` (a scenario's or an option's duration for the load tool) as "<seconds>s", or a
    BenchError naming `what` and the forms both tools take."""
    m = LOAD_TOOL_DURATION.fullmatch(str(value).strip())
    secs = int(m.group(1)) * {None: 1, "s": 1, "m": 60, "h": 3600}[m.group(2)] if m else None
    if secs is None or secs < least:
        raise BenchError(f"bench: {what} must be whole seconds or minutes as wrk and h2load take them "
                         f"(5, 5s, 1m{', at least ' + str(least) + ' s' if least > 1 else ''}"
                         f"{'; 0 for none' if least == 0 else ''}), not {value!r}")
    return f"{secs}s"


def check_targets(names: list[str]) -> list[str]:
    unknown = [t for t in names if t not in TARGETS]
    if unknown:
        raise BenchError(f"bench: unknown target{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(TARGETS)})")
    return names


def seconds(text) -> float:
    if isinstance(text, (int, float)):
        return float(text)
    m = re.fullmatch(r"\s*([\d.]+)\s*(ms|s|m)\s*", str(text))
    if not m:
        raise BenchError(f"bench: '{text}' is not a duration (500ms, 10s, 1m)")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def _merge(defaults: dict, given: dict, where: str) -> dict:
    unknown = set(given) - set(defaults)
    if unknown:
        raise BenchError(f"bench: {where}: unknown key(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(defaults))})")
    out = dict(defaults)
    for k, v in given.items():
        out[k] = _merge(defaults[k], v, f"{where}.{k}") if isinstance(defaults[k], dict) and k not in ("settings", "peer_breaker") else v
    return out


def load(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise BenchError(f"bench: {path}: {e}")
    name = raw.pop("name", path.stem)
    s = _merge(DEFAULTS, raw, path.name)
    s["name"] = name
    if s["protocol"] not in PROTOCOLS:
        raise BenchError(f"bench: {path.name}: protocol '{s['protocol']}' (known: {', '.join(PROTOCOLS)})")
    for peer in s["peers"]:
        if peer not in PEERS:
            raise BenchError(f"bench: {path.name}: peer '{peer}' (known: {', '.join(PEERS)})")
    mix = []
    for i, route in enumerate(s["traffic"]["mix"]):
        r = _merge(ROUTE_DEFAULTS | {"name": f"route{i}", "path": "/"}, route, f"{path.name}.traffic.mix[{i}]")
        if r["kind"] not in KINDS:
            raise BenchError(f"bench: {path.name}: mix '{r['name']}': kind '{r['kind']}' (known: {', '.join(KINDS)})")
        if r["class"] and r["class"] not in CLASSES:
            raise BenchError(f"bench: {path.name}: mix '{r['name']}': class '{r['class']}' (known: {', '.join(CLASSES)})")
        mix.append(r)
    if any(r["class"] for r in mix) and not all(r["class"] for r in mix):
        raise BenchError(f"bench: {path.name}: give every route of the mix a class, or none")
    s["traffic"]["mix"] = mix
    check_load_durations(s, path.name)
    seconds(s["load"]["think_time"])
    check_fixed_rates(s, path.name)
    if s["load"]["new_connection"] and s["protocol"] == "h2-tls":
        raise BenchError(f"bench: {path.name}: new_connection needs wrk (protocol h1 or h1-tls)")
    limits = []
    for i, entry in enumerate(s["peer_limits"]):
        e = _merge(PEER_LIMIT_DEFAULTS, entry, f"{path.name}.peer_limits[{i}]")
        if not e["name"] or int(e["max_concurrent"]) < 1:
            raise BenchError(f"bench: {path.name}: peer_limits[{i}] needs a name and max_concurrent >= 1")
        seconds(e["queue_timeout"])
        limits.append(e)
    if limits and sum(1 for e in limits if not e["prefix"]) != 1:
        raise BenchError(f"bench: {path.name}: exactly one peer_limits entry without a prefix (every other request)")
    s["peer_limits"] = limits
    s["traffic"]["merchants"] = [str(m) for m in s["traffic"]["merchants"]]
    if any(r["kind"] in ("query", "refund", "close") for r in mix) and not s["backend"]["seed_orders"]:
        s["backend"]["seed_orders"] = 50
    timeline = []
    for step in s["backend"]["timeline"]:
        if not isinstance(step, dict) or "at" not in step or not set(step) <= {"at", "set", "phase"} \
                or not ({"set", "phase"} & set(step)):
            raise BenchError(f"bench: {path.name}: a timeline step is {{at: FRACTION_OF_RUN, set: {{...}}}}, "
                             f"optionally with phase: NAME (then `set` may be left out)")
        at = float(step["at"])
        if not 0 <= at < 1:
            raise BenchError(f"bench: {path.name}: timeline step at {step['at']}: a fraction of the run, 0 <= at < 1")
        timeline.append({"at": at, "set": dict(step.get("set") or {}), **({"phase": str(step["phase"])} if "phase" in step else {})})
    # Phases: when steps name them, each measured run is one load run per phase, back to back
    # (the backend switched between them), so each phase has its own latency and outcomes.
    if any("phase" in st for st in timeline):
        if not all("phase" in st for st in timeline):
            raise BenchError(f"bench: {path.name}: give every timeline step a phase, or none")
        ats = [st["at"] for st in timeline]
        if ats[0] != 0 or ats != sorted(set(ats)):
            raise BenchError(f"bench: {path.name}: with phases, the first step is at 0 and the steps come in order")
        names = [st["phase"] for st in timeline]
        if len(set(names)) != len(names):
            raise BenchError(f"bench: {path.name}: phase names must differ ({', '.join(names)})")
        if s["protocol"] == "h2-tls" or any(r["class"] for r in mix):
            raise BenchError(f"bench: {path.name}: phases need wrk and a mix without classes")
    s["backend"]["timeline"] = timeline
    if int(s["idle"]["connections"]):
        seconds(s["idle"]["settle"])
        if timeline or any(r["class"] for r in mix):
            raise BenchError(f"bench: {path.name}: idle connections are without timeline or classes")
    if s["backend"]["kind"] not in BACKENDS:
        raise BenchError(f"bench: {path.name}: backend kind '{s['backend']['kind']}' (known: {', '.join(BACKENDS)})")
    if s["backend"]["kind"] == "static" and (s["backend"]["settings"] or timeline or any(r["class"] for r in mix)):
        raise BenchError(f"bench: {path.name}: a static backend has no settings, timeline or classes "
                         f"(those need the mock backend: kind mock)")
    if s["peer_breaker"]:
        given = s["peer_breaker"]
        unknown = set(given) - set(PEER_BREAKER_DEFAULTS)
        if unknown:
            raise BenchError(f"bench: {path.name}: peer_breaker: unknown key(s) {', '.join(sorted(unknown))} "
                             f"(known: nginx, haproxy)")
        pb = {peer: _merge(d, given.get(peer) or {}, f"{path.name}.peer_breaker.{peer}")
              for peer, d in PEER_BREAKER_DEFAULTS.items()}
        for peer, d in pb.items():
            for k, v in d.items():
                if k in ("fail_timeout", "inter", "fastinter", "downinter"):
                    seconds(v)
        if int(pb["nginx"]["servers"]) < 1 or int(pb["nginx"]["max_fails"]) < 0:
            raise BenchError(f"bench: {path.name}: peer_breaker.nginx: servers >= 1, max_fails >= 0")
        s["peer_breaker"] = pb
    return s


def check_load_durations(s: dict, where: str = "") -> None:
    """The durations handed to wrk and h2load, checked and written "<seconds>s": before anything
    starts, not when the load tool refuses one after redis, the backend and every proxy ran."""
    where = where or s["name"]
    load = s["load"]
    load["duration"] = load_tool_duration(load["duration"], f"{where}: load.duration")
    load["warmup"] = load_tool_duration(load["warmup"], f"{where}: load.warmup", least=0)
    load["timeout"] = load_tool_duration(load["timeout"], f"{where}: load.timeout")
    if s["unloaded"]["connections"]:
        s["unloaded"]["duration"] = load_tool_duration(s["unloaded"]["duration"], f"{where}: unloaded.duration")


def check_fixed_rates(s: dict, where: str = "") -> None:
    rates = s["load"]["fixed_rates"]
    if not isinstance(rates, list) or not all(isinstance(f, (int, float)) and 0 < f <= 1 for f in rates):
        raise BenchError(f"bench: {where or s['name']}: load.fixed_rates is a list of fractions of the peak, 0 < f <= 1")
    if rates and (s["load"]["new_connection"] or s["backend"]["timeline"] or any(r["class"] for r in s["traffic"]["mix"])):
        raise BenchError(f"bench: {where or s['name']}: fixed rates need keep-alive traffic without timeline or classes")


def phases(scenario: dict) -> list[dict]:
    """The scenario's phases, each {name, at, until, set} (fractions of the run), or []."""
    steps = [st for st in scenario["backend"]["timeline"] if "phase" in st]
    return [{"name": st["phase"], "at": st["at"], "until": nxt["at"] if nxt else 1.0, "set": st["set"]}
            for st, nxt in zip(steps, steps[1:] + [None])]


def phase_seconds(phase_list: list[dict], total: int) -> list[int]:
    """Whole seconds of each phase (wrk's -d takes no fractions) that add up to `total`: each
    phase its share's whole seconds, then the seconds left one each to the largest remainders,
    ties to the earlier phase, so equal shares get equal lengths where the total allows it
    (40/30/30 % of 5 s: 2, 2, 1; of 6 s: 2, 2, 2; of 10 s: 4, 3, 3). Every phase gets at least
    1 s (a second taken from the longest), so `total` must be at least the number of phases."""
    if total < len(phase_list):
        raise BenchError(f"bench: {len(phase_list)} phases need a duration of at least {len(phase_list)} s "
                         f"(one whole second each), not {total} s")
    # Shares rounded to 9 places: 10 × 0.3 is 3.0000000000000004, and must tie with 10 × 0.3.
    exact = [round(total * (ph["until"] - ph["at"]), 9) for ph in phase_list]
    out = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in by_remainder[:total - sum(out)]:
        out[i] += 1
    for i, secs in enumerate(out):
        if secs == 0:
            out[out.index(max(out))] -= 1
            out[i] = 1
    return out


def find(name_or_path: str, scenarios_dir: Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidate = scenarios_dir / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(x.stem for x in scenarios_dir.glob("*.yaml")))
    raise BenchError(f"bench: no scenario '{name_or_path}' (known: {known})")
