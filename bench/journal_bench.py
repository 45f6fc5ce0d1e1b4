"""Benchmark of the local journal (bot/journal.py) against the SQLite write it stands in for.

The same 500 answers (3 passages, a system prompt each) are written twice in one run: to a
fresh SQLite log with `InteractionLog.record` (the baseline, what every answer costs when
the database is up), and to a fresh journal with `Journal.append` (one fsync each, what an
answer costs while the database is down). Then the journal is replayed into the database.
Printed: milliseconds per write and per replayed entry, and each as a ratio of the baseline.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bot.journal import EntryKind, Journal
from bot.journal_records import DurableRecords
from bot.store.conversations import ConversationStore
from bot.store.database import create_db_engine, default_url, migrate
from bot.store.interactions import InteractionLog, InteractionRecord
from tests.records import make_record

COUNT = 500


def per_write_ms(work: list[InteractionRecord], write: Callable[[InteractionRecord], object]) -> float:
    started = time.perf_counter()
    for record in work:
        write(record)
    return (time.perf_counter() - started) * 1000 / len(work)


def main() -> None:
    records = [make_record() for _ in range(COUNT)]
    with tempfile.TemporaryDirectory(prefix="journal-bench-") as tmp:
        base = Path(tmp)
        (base / "db").mkdir()
        engine = create_db_engine(default_url(base / "db"))
        migrate(engine)
        log = InteractionLog(engine)
        database_ms = per_write_ms(records, log.record)

        replay_engine = create_db_engine(default_url(base))
        migrate(replay_engine)
        journal = Journal(base / "journal")
        journal_ms = per_write_ms(records, lambda r: journal.append(EntryKind.INTERACTION, asdict(r)))
        durable = DurableRecords(InteractionLog(replay_engine), ConversationStore(replay_engine), journal)
        started = time.perf_counter()
        assert durable.replay() == COUNT
        replay_ms = (time.perf_counter() - started) * 1000 / COUNT
        engine.dispose()
        replay_engine.dispose()
    print(f"{COUNT} answers, SQLite in a temporary directory")
    print(f"  database write (baseline): {database_ms:7.2f} ms each")
    print(
        f"  journal append (fsync):    {journal_ms:7.2f} ms each  {journal_ms / database_ms:5.2f}x baseline"
    )
    print(f"  replay into the database:  {replay_ms:7.2f} ms each  {replay_ms / database_ms:5.2f}x baseline")


if __name__ == "__main__":
    main()
