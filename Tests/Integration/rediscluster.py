"""A throwaway Redis Cluster for the integration tests: 3 primaries and 3 replicas from Debian's
redis-server on free loopback ports, joined by `redis-cli --cluster create`. The node timeout is
1 s, so a killed primary's replica takes over in about 2 s. Missing redis-server or redis-cli is
a test failure, never a skip. Every node is a conftest `Proc`: killed at teardown whatever
happens, and with pytest if pytest dies."""
from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Proc, _handed_out


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_node_port() -> int:
    """A port for a node whose cluster bus (port + 10000) is free too. Both are taken below the
    kernel's ephemeral range (32768 and up here), so no outgoing connection of this or another
    test can take the bus port between this check and redis-server's bind: a CI run failed on
    exactly that when the node ports came from free_port()."""
    for _ in range(1000):
        port = random.randrange(10000, 22768)
        if port in _handed_out or port + 10000 in _handed_out:
            continue
        if _port_is_free(port) and _port_is_free(port + 10000):
            _handed_out.update((port, port + 10000))
            return port
    raise RuntimeError("no free port pair for a cluster node")


def make_test_certificates(directory: Path) -> Path:
    """Tests/Support/make-test-certs.sh: ca.pem, and gateway.pem/.key for 127.0.0.1 signed by it."""
    subprocess.run(["sh", str(Path(__file__).resolve().parents[1] / "Support" / "make-test-certs.sh"), str(directory)],
                   check=True, timeout=60)
    return directory


class RedisCluster:
    def __init__(self, logdir: Path, certificates: Path | None = None):
        """`certificates` (from make_test_certificates): every node speaks TLS only (clients,
        replication, cluster bus)."""
        self.certificates = certificates
        for tool in ("redis-server", "redis-cli"):
            if shutil.which(tool) is None:
                pytest.fail(f"{tool} not found: the cluster tests need it (`make deps` installs it)", pytrace=False)
        self.logdir = logdir
        self.ports = [_cluster_node_port() for _ in range(6)]
        self.procs: dict[int, Proc] = {}
        for port in self.ports:
            self._start(port)
        created = self._cli(["--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                             "--cluster-replicas", "1", "--cluster-yes"], timeout=30)
        if "All 16384 slots covered" not in created:
            pytest.fail(f"redis-cli --cluster create failed:\n{created}")
        self.wait_healthy(10)

    def _start(self, port: int) -> None:
        data = self.logdir / f"node-{port}"
        data.mkdir(parents=True, exist_ok=True)
        self.procs[port] = Proc(f"redis-cluster-{port}", [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
            "--repl-diskless-sync-delay", "0", "--dir", str(data), *self._tls_server_arguments(port)], self.logdir)
        deadline = time.monotonic() + 5
        while self.cli(port, "PING") != "PONG":
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server on {port} did not start\n{self.procs[port].describe()}")
            time.sleep(0.02)

    def _tls_server_arguments(self, port: int) -> list[str]:
        if not self.certificates:
            return []
        c = self.certificates
        return ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(c / "gateway.pem"),
                "--tls-key-file", str(c / "gateway.key"), "--tls-ca-cert-file", str(c / "ca.pem"),
                "--tls-auth-clients", "no", "--tls-cluster", "yes", "--tls-replication", "yes"]

    def _cli(self, args: list[str], timeout: float = 5) -> str:
        tls = ["--tls", "--cacert", str(self.certificates / "ca.pem")] if self.certificates else []
        done = subprocess.run(["redis-cli", *tls, *args], capture_output=True, text=True, timeout=timeout)
        return (done.stdout + done.stderr).strip()

    def cli(self, port: int, *args: str) -> str:
        """One command to one node (no redirects followed)."""
        try:
            return self._cli(["-h", "127.0.0.1", "-p", str(port), *args])
        except subprocess.TimeoutExpired:
            return ""

    def wait_healthy(self, timeout: float) -> None:
        """Every live node says cluster_state:ok and every replica is in sync with its primary."""
        deadline = time.monotonic() + timeout
        while True:
            live = [p for p in self.ports if p in self.procs]
            ok = all("cluster_state:ok" in self.cli(p, "CLUSTER", "INFO") for p in live)
            synced = all(("role:master" in r or "master_link_status:up" in r)
                         for r in (self.cli(p, "INFO", "replication") for p in live))
            if ok and synced:
                return
            if time.monotonic() > deadline:
                pytest.fail("the cluster did not become healthy:\n" + self.cli(live[0], "CLUSTER", "NODES"))
            time.sleep(0.05)

    def nodes(self, ask: int | None = None) -> list[dict]:
        """CLUSTER NODES as seen by one live node."""
        ask = ask or next(p for p in self.ports if p in self.procs)
        out = []
        for line in self.cli(ask, "CLUSTER", "NODES").splitlines():
            f = line.split()
            if len(f) < 8:
                continue
            slots = []
            for r in f[8:]:
                if r.startswith("["):
                    continue  # a slot being migrated or imported
                a, _, b = r.partition("-")
                slots.append((int(a), int(b or a)))
            out.append({"id": f[0], "port": int(f[1].split(":")[1].split("@")[0]), "flags": f[2].split(","),
                        "slots": slots})
        return out

    def primaries(self) -> list[dict]:
        return [n for n in self.nodes() if "master" in n["flags"] and "fail" not in n["flags"] and n["slots"]]

    def keyslot(self, key: str) -> int:
        return int(self.cli(self.ports[0], "CLUSTER", "KEYSLOT", key))

    def primary_of(self, slot: int) -> dict:
        return next(n for n in self.primaries() if any(a <= slot <= b for a, b in n["slots"]))

    def kill(self, port: int) -> None:
        """SIGKILL, as a crash."""
        proc = self.procs.pop(port)
        proc.popen.kill()
        proc.popen.wait(5)
        proc.stop()

    def reshard(self, source: dict, target: dict, slots: int, timeout: float = 60) -> str:
        """`redis-cli --cluster reshard`: moves `slots` slots (the source's lowest) and their keys."""
        return self._cli(["--cluster", "reshard", f"127.0.0.1:{target['port']}", "--cluster-from", source["id"],
                          "--cluster-to", target["id"], "--cluster-slots", str(slots), "--cluster-yes"], timeout=timeout)

    def stop(self) -> None:
        for port in list(self.procs):
            self.procs.pop(port).stop()

    def seeds_yaml(self) -> str:
        return "[" + ", ".join(f"127.0.0.1:{p}" for p in self.ports[:2]) + "]"
