"""Run a real Weaviate server as a child process on loopback, or reuse one already running.

The server keeps its state in `<data dir>/weaviate/`. `server.json` there names the
process serving that directory, so a second command on the same data directory connects
to it instead of starting another server on the same files. The owner stops it on exit;
the kernel stops it too if the owner dies without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

WEAVIATE_VERSION = "1.39.3"
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 20


class WeaviateStartError(RuntimeError):
    """The embedded server could not be started; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    http_port: int
    grpc_port: int
    pid: int
    owned: bool


def default_binary_path(version: str = WEAVIATE_VERSION) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "supportbot" / f"weaviate-{version}" / "weaviate-server"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int, taken: frozenset[int] = frozenset()) -> list[int]:
    """`count` distinct free ports, none of them in `taken`. The sockets are held open together,
    so the kernel cannot hand out one port twice (a released port is often the next one given)."""
    held: list[socket.socket] = []
    ports: list[int] = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
            if port not in taken:
                ports.append(port)
    finally:
        for sock in held:
            sock.close()
    return ports


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # noqa: S104 - gossip ports bind all interfaces
        except OSError:
            return False
    return True


def is_ready(host: str, http_port: int, timeout: float = 2.0) -> bool:
    url = f"http://{host}:{http_port}/v1/.well-known/ready"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the parent dies, even by SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedWeaviate:
    """Start (or reuse) the server for one data directory. Use as a context manager."""

    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        http_port: int | None = None,
        startup_timeout: float = 90.0,
    ) -> None:
        self.binary = binary
        self.root = data_dir / "weaviate"
        self.http_port = http_port
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self.endpoint: Endpoint | None = None

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def _state_path(self) -> Path:
        return self.root / "server.json"

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Endpoint:
        self._prepare_root()
        with self._locked():
            running = self._running_server()
            if running is not None:
                logger.info("reusing Weaviate (pid %s) on port %s", running.pid, running.http_port)
                self.endpoint = running
                return running
            self.endpoint = self._spawn()
            return self.endpoint

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                logger.warning("Weaviate did not stop within 20 s; killing it")
                process.kill()
                process.wait()
        self._state_path.unlink(missing_ok=True)
        logger.info("Weaviate stopped")

    def _prepare_root(self) -> None:
        if not self.binary.is_file() or not os.access(self.binary, os.X_OK):
            raise WeaviateStartError(
                f"Weaviate server binary not found at {self.binary}: run `make weaviate` "
                "to install it, or set WEAVIATE_BIN to a weaviate-server binary"
            )
        try:
            (self.root / "data").mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as err:
            raise WeaviateStartError(
                f"data directory {self.root} is not writable: {err.strerror or err}"
            ) from err

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _running_server(self) -> Endpoint | None:
        try:
            state = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return None
        pid, port = int(state.get("pid", 0)), int(state.get("http_port", 0))
        if pid and _pid_alive(pid) and is_ready("127.0.0.1", port):
            return Endpoint("127.0.0.1", port, int(state["grpc_port"]), pid, owned=False)
        self._state_path.unlink(missing_ok=True)
        return None

    def _cluster_ports(self) -> dict[str, int]:
        """Gossip and raft ports, kept across restarts: raft remembers its own address."""
        path = self.root / "cluster-ports.json"
        try:
            saved = {k: int(v) for k, v in json.loads(path.read_text()).items()}
            if all(port_is_free(p) for p in saved.values()) and len(saved) == 4:
                return saved
        except (OSError, ValueError, AttributeError):
            pass
        ports = dict(zip(("gossip", "data", "raft", "raft_rpc"), free_ports(4), strict=True))
        path.write_text(json.dumps(ports))
        return ports

    def _spawn(self) -> Endpoint:
        if self.http_port and not port_is_free(self.http_port):
            raise WeaviateStartError(f"port {self.http_port} on 127.0.0.1 is already in use")
        # The cluster ports may be last run's (raft remembers them): the others must not collide
        # with them, or the server binds its gRPC port twice and exits just after it is ready.
        cluster = self._cluster_ports()
        taken = frozenset(cluster.values()) | ({self.http_port} if self.http_port else set())
        http_port, grpc_port = free_ports(2, taken)
        http_port = self.http_port or http_port
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PERSISTENCE_DATA_PATH": str(self.root / "data"),
            "DEFAULT_VECTORIZER_MODULE": "none",
            "ENABLE_MODULES": "",
            "AUTOSCHEMA_ENABLED": "false",
            "AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED": "true",
            "GRPC_PORT": str(grpc_port),
            "CLUSTER_HOSTNAME": "node1",
            "CLUSTER_ADVERTISE_ADDR": "127.0.0.1",
            "CLUSTER_GOSSIP_BIND_PORT": str(cluster["gossip"]),
            "CLUSTER_DATA_BIND_PORT": str(cluster["data"]),
            "RAFT_PORT": str(cluster["raft"]),
            "RAFT_INTERNAL_RPC_PORT": str(cluster["raft_rpc"]),
            "RAFT_BOOTSTRAP_EXPECT": "1",
            "DISABLE_TELEMETRY": "true",
            "GO_PROFILING_DISABLE": "true",
            "PROMETHEUS_MONITORING_ENABLED": "false",
            "LOG_LEVEL": "info",
        }
        command = [str(self.binary), "--host", "127.0.0.1", "--port", str(http_port), "--scheme", "http"]
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child for its lifetime
        try:
            process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks taken
            )
        finally:
            log.close()
        self._process = process
        logger.info("starting Weaviate %s (pid %s) on port %s", self.binary, process.pid, http_port)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                raise WeaviateStartError(self._explain_exit(process.returncode))
            if is_ready("127.0.0.1", http_port, timeout=1.0):
                state = {"pid": process.pid, "http_port": http_port, "grpc_port": grpc_port}
                self._state_path.write_text(json.dumps(state))
                return Endpoint("127.0.0.1", http_port, grpc_port, process.pid, owned=True)
            time.sleep(0.25)
        self.stop()
        raise WeaviateStartError(
            f"Weaviate was not ready after {self.startup_timeout:.0f} s.\n{self._log_tail()}"
        )

    def _explain_exit(self, code: int) -> str:
        tail = self._log_tail()
        reason = f"Weaviate exited during start-up with code {code}"
        if "address already in use" in tail:
            reason += " because a port it needs is already in use"
        elif "permission denied" in tail.lower() or "read-only" in tail.lower():
            reason += f" because it cannot write its data directory {self.root / 'data'}"
        return f"{reason}. Last lines of {self.log_path}:\n{tail}"

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-_LOG_TAIL_LINES:])
