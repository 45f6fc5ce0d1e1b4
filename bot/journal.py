"""A durable local journal: the writes the database could not take, kept until it can.

Append-only JSON lines in `<data dir>/journal/`, one fsync per entry: an entry that was
appended survives a crash, a restart or a full power cut. Every entry has a sequence
number; the `applied` marker next to the file says how far replay has got. A crash during
replay repeats the last entry rather than skipping it, which is why every entry must be
idempotent (bot.journal_records applies them). When all entries are applied the file is
emptied; sequence numbers carry on from the marker.

Two processes on one data directory (`serve` and an `ask`) share the file: appends and
emptying take an flock, and one replayer at a time holds another.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from bot import metrics

logger = logging.getLogger(__name__)


class EntryKind(StrEnum):
    CLAIM = "claim"  # an event handled once (a redelivery must not be answered twice)
    INTERACTION = "interaction"  # an answered question with everything the log keeps
    LINK = "link"  # which posted message carries which answer (reactions name the message)
    VOTE = "vote"
    RETRACT = "retract"


class Applied(StrEnum):
    DONE = "done"  # written (or already there): the next entry
    REJECTED = "rejected"  # the database will never take it: kept aside for a person
    DEFERRED = "deferred"  # the database is still down: stop, try again later


@dataclass(frozen=True)
class Entry:
    seq: int
    kind: EntryKind
    at: str  # ISO 8601, UTC: when the write was asked for (orders votes on replay)
    data: dict[str, Any]

    def line(self) -> bytes:
        body = {"seq": self.seq, "kind": self.kind.value, "at": self.at, "data": self.data}
        return (json.dumps(body, ensure_ascii=False) + "\n").encode()

    @classmethod
    def parse(cls, line: str) -> Entry:
        body = json.loads(line)
        return cls(int(body["seq"]), EntryKind(body["kind"]), str(body["at"]), dict(body["data"]))


@dataclass
class _Contents:
    """The file as last read, and the lookups the write path needs while entries wait."""

    stamp: tuple[int, int, int] = (0, 0, 0)  # inode, size, mtime: re-read when it changes
    entries: list[Entry] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    claims: set[tuple[str, str]] = field(default_factory=set)
    links: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        self.entries.append(entry)
        data = entry.data
        if entry.kind is EntryKind.CLAIM:
            self.claims.add((data["platform"], data["event_id"]))
        elif entry.kind is EntryKind.LINK:
            self.links[(data["platform"], data["channel"], data["message_id"])] = data["interaction_id"]


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "journal.jsonl"
        self.marker = directory / "journal.applied"
        self.rejected = directory / "journal.rejected.jsonl"
        self._lock_file = directory / "journal.lock"
        self._replay_lock_file = directory / "journal.replay.lock"
        self._thread_lock = threading.RLock()
        self._contents = _Contents()

    # -- writing -------------------------------------------------------------------------

    def append(self, kind: EntryKind, data: dict[str, Any]) -> Entry:
        """Add one entry and fsync it; raises OSError when the disk refuses (full, read-only)."""
        with self._locked():
            return self._append(kind, data)

    def _append(self, kind: EntryKind, data: dict[str, Any]) -> Entry:
        contents = self._read()
        last = max([self._applied(), *(e.seq for e in contents.entries)])
        entry = Entry(last + 1, kind, datetime.now(UTC).isoformat(), data)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            # A crash mid-append leaves a line without its newline: keep it a line of its own.
            torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
            os.write(fd, (b"\n" if torn else b"") + entry.line())
            os.fsync(fd)
            # Under the lock nobody else wrote: the cache stays current without re-reading the file.
            status = os.fstat(fd)
            contents.stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
            contents.add(entry)
        finally:
            os.close(fd)
        metrics.JOURNALLED.labels(kind.value).inc()
        return entry

    def claim(self, platform: str, event_id: str) -> bool:
        """Journal the event's claim unless it is there already: True for the first delivery.
        Atomic, so two deliveries of one event racing into an outage get one answer."""
        with self._locked():
            if (platform, event_id) in self._read().claims:
                return False
            self._append(EntryKind.CLAIM, {"platform": platform, "event_id": event_id})
            return True

    # -- what waits ----------------------------------------------------------------------

    def has_pending(self) -> bool:
        """True while anything waits for replay: new writes then queue behind it, in order."""
        try:
            return self.path.stat().st_size > 0
        except OSError:  # none yet, or no journal directory to be had (then appends say so)
            return False

    def pending(self) -> list[Entry]:
        with self._thread_lock:
            applied = self._applied()
            return [e for e in self._read().entries if e.seq > applied]

    def claimed(self, platform: str, event_id: str) -> bool:
        """The event's claim waits in the journal (a redelivery during an outage)."""
        if not self.has_pending():
            return False
        with self._thread_lock:
            return (platform, event_id) in self._read().claims

    def answer_of(self, platform: str, channel: str, message_id: str) -> str | None:
        """The answer a message carries, when its link still waits in the journal."""
        if not self.has_pending():
            return None
        with self._thread_lock:
            return self._read().links.get((platform, channel, message_id))

    # -- replay --------------------------------------------------------------------------

    def replay(self, apply: Callable[[Entry], Applied]) -> int:
        """Apply waiting entries in order; the number written. Stops at the first DEFERRED."""
        written = 0
        with self._replaying() as alone:
            if not alone:
                return 0  # another process replays this journal now
            for entry in self.pending():
                outcome = apply(entry)
                if outcome is Applied.DEFERRED:
                    return written
                if outcome is Applied.REJECTED:
                    self._set_aside([entry.line().decode()])
                    metrics.JOURNAL_REJECTED.labels(entry.kind.value).inc()
                else:
                    written += 1
                    metrics.REPLAYED.labels(entry.kind.value).inc()
                self._mark(entry.seq)
            self._empty_if_done()
        return written

    def _empty_if_done(self) -> None:
        with self._locked():
            contents = self._read()
            applied = self._applied()
            if any(e.seq > applied for e in contents.entries):
                return  # appended while we replayed: the next round takes them
            if contents.unreadable:
                self._set_aside(contents.unreadable)
            with open(self.path, "r+b") as handle:
                handle.truncate(0)
                os.fsync(handle.fileno())

    def _set_aside(self, lines: list[str]) -> None:
        logger.error("%d journal entr(ies) the database will not take moved to %s", len(lines), self.rejected)
        with open(self.rejected, "a") as handle:
            handle.writelines(line.rstrip("\n") + "\n" for line in lines)
            handle.flush()
            os.fsync(handle.fileno())

    # -- files ---------------------------------------------------------------------------

    def _read(self) -> _Contents:
        try:
            status = self.path.stat()
        except FileNotFoundError:
            self._contents = _Contents()
            return self._contents
        stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
        if stamp == self._contents.stamp:
            return self._contents
        contents = _Contents(stamp)
        for line in self.path.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            try:
                entry = Entry.parse(line)
            except (ValueError, KeyError, TypeError):
                contents.unreadable.append(line)  # a torn write: kept aside when the file is emptied
                continue
            contents.add(entry)
        self._contents = contents
        return contents

    def _applied(self) -> int:
        try:
            return int(self.marker.read_text().strip() or 0)
        except FileNotFoundError:
            return 0

    def _mark(self, seq: int) -> None:
        temporary = self.marker.with_suffix(".tmp")
        with open(temporary, "w") as handle:
            handle.write(str(seq))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.marker)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._thread_lock, open(self._lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    @contextmanager
    def _replaying(self) -> Iterator[bool]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self._replay_lock_file, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
