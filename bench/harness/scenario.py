"""Scenario files (bench/scenarios/*.yaml): loaded, defaults filled in, checked. Unknown keys
are errors, as in policy files: a typo must not silently change what is measured."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from .procs import BenchError

PROTOCOLS = ("h1", "h1-tls", "h2-tls")
PEERS = ("nginx", "haproxy")
KINDS = ("plain", "create_json", "create_xml", "query", "refund", "close")

DEFAULTS = {
    "description": "",
    "protocol": "h1",
    "workers": 1,
    "policy": "bare",
    "peers": ["nginx", "haproxy"],
    "redis": False,
    "backend": {"workers": 1, "settings": {}, "seed_orders": 0, "timeline": []},
    "load": {"connections": 64, "threads": 1, "streams": 1, "duration": "10s", "warmup": "3s",
             "rounds": 2, "timeout": "10s"},
    "traffic": {"merchants": ["1900000001"], "mix": [{"name": "ping", "method": "GET", "path": "/bench/ping"}]},
}
ROUTE_DEFAULTS = {"method": "GET", "weight": 1, "kind": "plain", "body_bytes": 0}


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
        out[k] = _merge(defaults[k], v, f"{where}.{k}") if isinstance(defaults[k], dict) and k != "settings" else v
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
        mix.append(r)
    s["traffic"]["mix"] = mix
    s["traffic"]["merchants"] = [str(m) for m in s["traffic"]["merchants"]]
    if any(r["kind"] in ("query", "refund", "close") for r in mix) and not s["backend"]["seed_orders"]:
        s["backend"]["seed_orders"] = 50
    for step in s["backend"]["timeline"]:
        if set(step) != {"at", "set"}:
            raise BenchError(f"bench: {path.name}: a timeline step is {{at: FRACTION_OF_RUN, set: {{...}}}}")
    return s


def find(name_or_path: str, scenarios_dir: Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidate = scenarios_dir / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(x.stem for x in scenarios_dir.glob("*.yaml")))
    raise BenchError(f"bench: no scenario '{name_or_path}' (known: {known})")
