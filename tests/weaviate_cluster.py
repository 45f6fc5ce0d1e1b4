"""A real Weaviate cluster on loopback: N `weaviate-server` processes, for tests and benches.

Each node gets its own HTTP, gRPC, gossip/data and raft/raft-RPC ports and data directory.
With CLUSTER_IN_LOCALHOST, Weaviate derives a peer's data port as its gossip port + 1 and
its raft RPC port as its raft port + 1, so those come in consecutive pairs. Node 0 starts
first; the others gossip-join it once its gossip port listens (earlier, they exit); all
three are raft voters (RAFT_JOIN names them, RAFT_BOOTSTRAP_EXPECT waits for all).

Processes are killed when the cluster is left (also on an exception) and, through
PR_SET_PDEATHSIG, when the Python process that started them dies.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.weaviate_server import _die_with_parent, free_port, is_ready, port_is_free

HOST = "127.0.0.1"
# Async replication (what brings a restarted node up to date) checks every 30 s by default
# and waits 30 s before propagating fresh writes: tests want seconds, not a minute.
FAST_CATCH_UP = {
    "ASYNC_REPLICATION_FREQUENCY": "5s",
    "ASYNC_REPLICATION_FREQUENCY_WHILE_PROPAGATING": "1s",
    "ASYNC_REPLICATION_PROPAGATION_DELAY": "1s",
}


class ClusterError(RuntimeError):
    """A node did not start, or the cluster did not form; the message has the log tail."""


@dataclass
class Node:
    name: str
    http_port: int
    grpc_port: int
    gossip_port: int  # data port: gossip + 1
    raft_port: int  # raft RPC port: raft + 1
    root: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"http://{HOST}:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port_pair(taken: set[int]) -> int:
    """A port p with p and p + 1 free (and not already handed out)."""
    for _ in range(200):
        port = free_port()
        if port < 65535 and {port, port + 1}.isdisjoint(taken) and port_is_free(port + 1):
            taken.update((port, port + 1))
            return port
    raise ClusterError("found no two consecutive free ports")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


class WeaviateCluster:
    """`with WeaviateCluster(binary, tmp_path) as cluster:` gives `cluster.nodes`, all ready."""

    def __init__(
        self,
        binary: Path,
        root: Path,
        size: int = 3,
        startup_timeout: float = 90.0,
        env: dict[str, str] | None = None,
        fast_catch_up: bool = True,
    ) -> None:
        self.binary = binary
        self.size = size
        self.startup_timeout = startup_timeout
        self.extra_env = {**(FAST_CATCH_UP if fast_catch_up else {}), **(env or {})}
        taken: set[int] = set()
        self.nodes: list[Node] = []
        for i in range(size):
            http, grpc = free_port(), free_port()
            taken.update((http, grpc))
            gossip, raft = free_port_pair(taken), free_port_pair(taken)
            self.nodes.append(Node(f"node{i}", http, grpc, gossip, raft, root / f"node{i}"))

    def __enter__(self) -> WeaviateCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def urls(self) -> str:
        """WEAVIATE_URL for the whole cluster."""
        return ",".join(n.url for n in self.nodes)

    @property
    def grpc_urls(self) -> str:
        return ",".join(n.grpc_url for n in self.nodes)

    def _env(self, node: Node) -> dict[str, str]:
        first = self.nodes[0]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PERSISTENCE_DATA_PATH": str(node.root / "data"),
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "AUTOSCHEMA_ENABLED": "false",
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "GRPC_PORT": str(node.grpc_port),
            "CLUSTER_HOSTNAME": node.name,
            "CLUSTER_IN_LOCALHOST": "true",
            "CLUSTER_ADVERTISE_ADDR": HOST,  # else raft binds the IPv6 address and exits
            "CLUSTER_GOSSIP_BIND_PORT": str(node.gossip_port),
            "CLUSTER_DATA_BIND_PORT": str(node.gossip_port + 1),
            "RAFT_PORT": str(node.raft_port),
            "RAFT_INTERNAL_RPC_PORT": str(node.raft_port + 1),
            "RAFT_JOIN": ",".join(f"{n.name}:{n.raft_port}" for n in self.nodes),
            "RAFT_BOOTSTRAP_EXPECT": str(self.size),
            "DISABLE_TELEMETRY": "true",
            "GO_PROFILING_DISABLE": "true",
            "PROMETHEUS_MONITORING_ENABLED": "false",
            "LOG_LEVEL": "info",
            **self.extra_env,
        }
        if node is not first:
            env["CLUSTER_JOIN"] = f"{HOST}:{first.gossip_port}"
        return env

    def _spawn(self, node: Node) -> None:
        node.root.mkdir(parents=True, exist_ok=True)
        command = [str(self.binary), "--host", HOST, "--port", str(node.http_port), "--scheme", "http"]
        with open(node.log_path, "ab") as log:
            node.process = subprocess.Popen(
                command,
                env=self._env(node),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )

    def _wait(self, what: str, done: Callable[[], bool], nodes: list[Node]) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while not done():
            for node in nodes:
                if not node.running:
                    raise ClusterError(f"{node.name} exited while {what}:\n{node.log_tail()}")
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {n.name}\n{n.log_tail()}" for n in nodes)
                raise ClusterError(f"timed out after {self.startup_timeout:.0f} s {what}\n{tails}")
            time.sleep(0.25)

    def start(self) -> None:
        first, *others = self.nodes
        self._spawn(first)
        self._wait("waiting for node0's gossip port", lambda: _listening(first.gossip_port), [first])
        for node in others:
            self._spawn(node)
        self.wait_formed()

    def wait_formed(self) -> None:
        """Every node ready and each sees all the others healthy."""
        self._wait(
            "forming the cluster",
            lambda: (
                all(n.running and is_ready(HOST, n.http_port, 1.0) for n in self.nodes)
                and all(self.healthy_nodes(n) == self.size for n in self.nodes)
            ),
            self.nodes,
        )

    def healthy_nodes(self, node: Node) -> int:
        """How many nodes `node` reports HEALTHY (GET /v1/nodes)."""
        try:
            with urllib.request.urlopen(node.url + "/v1/nodes", timeout=2) as response:
                nodes = json.loads(response.read())["nodes"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return 0
        return sum(1 for n in nodes if n.get("status") == "HEALTHY")

    def leader(self, via: int = 0) -> int | None:
        """Index of the raft leader as node `via` sees it (None: no leader, or no answer)."""
        try:
            with urllib.request.urlopen(
                self.nodes[via].url + "/v1/cluster/statistics", timeout=2
            ) as response:
                stats = json.loads(response.read())["statistics"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return None
        names = [n.name for n in self.nodes]
        leaders = [s["name"] for s in stats if s.get("raft", {}).get("state") == "Leader"]
        return names.index(leaders[0]) if leaders and leaders[0] in names else None

    def kill(self, index: int, how: signal.Signals = signal.SIGKILL) -> None:
        """Stop one node (SIGKILL: a crash; SIGTERM: a clean shutdown); its data stays."""
        node = self.nodes[index]
        if node.process is None:
            return
        if node.process.poll() is None:
            node.process.send_signal(how)
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
        node.process = None

    def restart(self, index: int) -> None:
        """Start a stopped node again on its ports and data, and wait for the full cluster."""
        self._spawn(self.nodes[index])
        self.wait_formed()

    def stop(self) -> None:
        for node in self.nodes:
            if node.running:
                assert node.process is not None
                node.process.send_signal(signal.SIGTERM)
        for index in range(len(self.nodes)):
            self.kill(index, signal.SIGTERM)
