"""What `<data dir>/weaviate/` holds about the server running on it: state file and locks.

All coordination between commands, the keeper and `server status|stop` goes through
`flock` locks on files here, because the kernel drops a flock when its holder dies: a
crashed command or keeper can never leave a lock behind, and no PID is trusted alone.

- `.lock` (start lock, exclusive): held while finding, replacing, starting or stopping the
  server, so two commands starting at once start one server.
- `server.lock` (exclusive): taken by whoever runs a server on this directory, and inherited
  by the weaviate-server child, so it stays held until both are gone: "free" means no
  server process of this directory is left, whatever died first.
- `lease.lock` (shared by every command connected; exclusive for the keeper's idle stop):
  the kernel releases a dead command's lease. Its mtime is the last use.
- `server.json`: pids and ports of the running server, written once it is ready and removed
  after it stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerState:
    pid: int
    http_port: int
    grpc_port: int
    keeper_pid: int | None = None  # None: a server bound to its owner process (EmbeddedWeaviate)
    idle_timeout: float | None = None


@dataclass(frozen=True)
class ServerFiles:
    root: Path

    @classmethod
    def of(cls, data_dir: Path) -> ServerFiles:
        # Absolute: the keeper runs in another directory, and status names the folder.
        return cls(data_dir.resolve() / "weaviate")

    @property
    def state(self) -> Path:
        return self.root / "server.json"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def keeper_log(self) -> Path:
        return self.root / "keeper.log"

    @property
    def start_lock(self) -> Path:
        return self.root / ".lock"

    @property
    def server_lock(self) -> Path:
        return self.root / "server.lock"

    @property
    def lease(self) -> Path:
        return self.root / "lease.lock"

    def read_state(self) -> ServerState | None:
        try:
            raw = json.loads(self.state.read_text())
            return ServerState(
                pid=int(raw["pid"]),
                http_port=int(raw["http_port"]),
                grpc_port=int(raw["grpc_port"]),
                keeper_pid=int(raw["keeper_pid"]) if raw.get("keeper_pid") else None,
                idle_timeout=float(raw["idle_timeout"]) if raw.get("idle_timeout") else None,
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_state(self, state: ServerState) -> None:
        # Readers never see half a file: write aside, then rename over.
        partial = self.state.with_suffix(".json.partial")
        partial.write_text(json.dumps(asdict(state)))
        partial.replace(self.state)

    def remove_state(self, owner_pid: int | None = None) -> None:
        """Remove server.json; with `owner_pid`, only if it still names that server."""
        if owner_pid is not None:
            state = self.read_state()
            if state is None or owner_pid not in (state.pid, state.keeper_pid):
                return
        self.state.unlink(missing_ok=True)

    def last_used(self) -> float:
        try:
            return self.lease.stat().st_mtime
        except OSError:
            return 0.0

    def mark_used(self) -> None:
        self.lease.touch()  # sets the mtime to now


@contextmanager
def flocked(path: Path, operation: int) -> Iterator[bool]:
    """Hold flock `operation` (LOCK_SH/LOCK_EX, | LOCK_NB to try) on `path` for the block.

    Yields whether it was taken (always True without LOCK_NB)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing drops the lock


def is_locked(path: Path) -> bool:
    """Whether anyone holds a lock on `path` that excludes an exclusive one."""
    if not path.exists():
        return False
    with flocked(path, fcntl.LOCK_EX | fcntl.LOCK_NB) as taken:
        return not taken


def wait_unlocked(path: Path, timeout: float, interval: float = 0.1) -> bool:
    """Wait until nothing holds `path`'s lock; False if still held after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while is_locked(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: only its parent has not collected it yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_our_process(pid: int, marker: str) -> bool:
    """Whether `pid` runs a command line containing `marker`, so a reused PID is never signalled."""
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
