"""Run a real Weaviate server as a child process on loopback, or reuse one already running.

The server keeps its state in `<data dir>/weaviate/` (see knowledge/weaviate_files.py for the
files and locks there). `server.json` names the process serving that directory, so a second
user of the same data directory connects to it instead of starting another server on the
same files. `EmbeddedWeaviate` ties the server to its owner: the owner stops it on exit, and
the kernel stops it if the owner dies without cleaning up (PR_SET_PDEATHSIG). Commands run
theirs under a keeper process that outlives them (knowledge/weaviate_keeper.py).
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
from dataclasses import dataclass
from pathlib import Path

from knowledge.weaviate_files import (
    ServerFiles,
    ServerState,
    flocked,
    is_locked,
    is_our_process,
    pid_alive,
    wait_unlocked,
)

logger = logging.getLogger(__name__)

WEAVIATE_VERSION = "1.39.3"
_PR_SET_PDEATHSIG = 1
_LOG_TAIL_LINES = 20
# A server that is alive but has not answered /ready for this long is taken as hung and
# replaced. Long enough that a healthy server on a loaded machine is never killed.
HUNG_AFTER = 15.0
_STOP_GRACE = 30.0


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


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the parent dies, even by SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def find_running(
    files: ServerFiles, hung_after: float = HUNG_AFTER, starting_for: float = 90.0
) -> Endpoint | None:
    """The server `server.json` names, if it is alive and answers; None if there is none or
    it is dead or hung (then `terminate` clears what is left of it). A server still starting
    or stopping (its lock held, no `server.json`) is waited for up to `starting_for` seconds."""
    state = _settled_state(files, starting_for)
    if state is None or not is_locked(files.server_lock):
        return None
    deadline = time.monotonic() + hung_after
    while pid_alive(state.pid) and (state.keeper_pid is None or pid_alive(state.keeper_pid)):
        if is_ready("127.0.0.1", state.http_port, timeout=2.0):
            return Endpoint("127.0.0.1", state.http_port, state.grpc_port, state.pid, owned=False)
        if time.monotonic() >= deadline:
            logger.warning("Weaviate (pid %s) has not been ready for %.0f s", state.pid, hung_after)
            return None
        time.sleep(0.25)
    return None


def _settled_state(files: ServerFiles, timeout: float) -> ServerState | None:
    # A keeper whose starter was interrupted goes on starting the server without the start
    # lock; a stopping one removes server.json just before it lets go of server.lock.
    deadline = time.monotonic() + timeout
    while (state := files.read_state()) is None and is_locked(files.server_lock):
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return state


def terminate(files: ServerFiles, grace: float = _STOP_GRACE) -> None:
    """Stop whatever server process of this data directory is left, and remove `server.json`.

    Waits on `server.lock`, which the keeper and weaviate-server both hold, so it returns
    only once neither is left. The caller holds the start lock."""
    state = files.read_state()
    if is_locked(files.server_lock):
        pids = [p for p in (state.keeper_pid, state.pid) if p] if state else []
        # A stale server.json may name PIDs reused since: signal only our own processes.
        ours = [p for p in pids if is_our_process(p, "weaviate")]
        _signal_all(ours, signal.SIGTERM)
        if not wait_unlocked(files.server_lock, grace):
            logger.warning("Weaviate of %s did not stop within %.0f s; killing it", files.root, grace)
            _signal_all(ours, signal.SIGKILL)
            if not wait_unlocked(files.server_lock, 10.0):
                raise WeaviateStartError(
                    f"a Weaviate server of {files.root} is still running and cannot be stopped "
                    f"(pids {pids or 'unknown'}; {files.server_lock} is held): stop it by hand"
                )
    files.remove_state()


def take_server_lock(files: ServerFiles) -> int:
    """The exclusive `server.lock`, as an open descriptor (closing it lets go)."""
    fd = os.open(files.server_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise WeaviateStartError(
            f"another Weaviate server still runs on {files.root} ({files.server_lock} is held)"
        ) from None
    return fd


def _signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
            if signum == signal.SIGTERM:
                os.kill(pid, signal.SIGCONT)  # a stopped (frozen) process acts on SIGTERM only then
        except ProcessLookupError:
            pass


class EmbeddedWeaviate:
    """Start (or reuse) the server for one data directory. Use as a context manager."""

    def __init__(
        self,
        binary: Path,
        data_dir: Path,
        http_port: int | None = None,
        startup_timeout: float = 90.0,
        grpc_port: int | None = None,
    ) -> None:
        self.binary = binary
        self.files = ServerFiles.of(data_dir)
        self.root = self.files.root
        self.http_port = http_port
        self.grpc_port = grpc_port  # fixed: a server restarted where its clients expect it
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._server_lock: int | None = None
        self._owns_lock = True
        self.endpoint: Endpoint | None = None

    @property
    def log_path(self) -> Path:
        return self.files.log

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Endpoint:
        self.prepare()
        with flocked(self.files.start_lock, fcntl.LOCK_EX):
            running = find_running(self.files, starting_for=self.startup_timeout)
            if running is not None:
                logger.info("reusing Weaviate (pid %s) on port %s", running.pid, running.http_port)
                self.endpoint = running
                return running
            terminate(self.files)
            self.endpoint = self.spawn()
            return self.endpoint

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    logger.warning("Weaviate did not stop within 20 s; killing it")
                    process.kill()
                    process.wait()
            self.files.remove_state(owner_pid=process.pid)
            logger.info("Weaviate stopped")
        lock, self._server_lock = self._server_lock, None
        if lock is not None and self._owns_lock:
            os.close(lock)

    def exit_code(self) -> int | None:
        """The server's exit code if it has exited (None while it runs or before start)."""
        return self._process.poll() if self._process is not None else None

    def wait_exit(self, timeout: float) -> int | None:
        """Like `exit_code`, but waits up to `timeout` seconds for the exit: a watcher sees it at once."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def prepare(self) -> None:
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

    def spawn(
        self, keeper_pid: int | None = None, idle_timeout: float | None = None, server_lock: int | None = None
    ) -> Endpoint:
        """Start a new server and wait until it is ready. The caller holds the start lock and
        has made sure no server of this directory is left (`find_running`, `terminate`).

        `server_lock`: the caller's descriptor of `server.lock`, kept by the caller (the keeper
        holds it until it exits); by default taken here and let go by `stop`."""
        self._server_lock = server_lock if server_lock is not None else take_server_lock(self.files)
        self._owns_lock = server_lock is None
        try:
            return self._spawn(keeper_pid, idle_timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, keeper_pid: int | None, idle_timeout: float | None) -> Endpoint:
        if self.http_port and not port_is_free(self.http_port):
            raise WeaviateStartError(f"port {self.http_port} on 127.0.0.1 is already in use")
        # The cluster ports may be last run's (raft remembers them): the others must not collide
        # with them, or the server binds its gRPC port twice and exits just after it is ready.
        cluster = self._cluster_ports()
        fixed = {p for p in (self.http_port, self.grpc_port) if p}
        taken = frozenset(cluster.values()) | fixed
        http_port, grpc_port = free_ports(2, taken)
        http_port = self.http_port or http_port
        grpc_port = self.grpc_port or grpc_port
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
                # The server holds server.lock too: it stays held until the server is gone,
                # even when its owner died first.
                pass_fds=(self._server_lock,) if self._server_lock is not None else (),
            )
        finally:
            log.close()
        self._process = process
        logger.info("starting Weaviate %s (pid %s) on port %s", self.binary, process.pid, http_port)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise WeaviateStartError(self._explain_exit(process.returncode))
            if is_ready("127.0.0.1", http_port, timeout=1.0):
                self.files.write_state(
                    ServerState(process.pid, http_port, grpc_port, keeper_pid, idle_timeout)
                )
                return Endpoint("127.0.0.1", http_port, grpc_port, process.pid, owned=True)
            time.sleep(0.1)
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
