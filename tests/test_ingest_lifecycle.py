"""Versions, idempotence, forgetting and failure handling against a real Weaviate."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.chunking import Chunker, ChunkSettings
from knowledge.ingest import Ingestor
from knowledge.loaders import DocumentDefaults, build_document
from knowledge.types import IngestStatus, SourceDocument
from tests.conftest import KBFactory

pytestmark = pytest.mark.weaviate
GROUPS = {"hr-team": ["C0HR"], "everyone": ["*"]}


def policy(
    text: str, version: str = "", effective: str = "", audience: tuple[str, ...] = ("everyone",)
) -> SourceDocument:
    return build_document(
        f"leave-{version or 'x'}.md",
        f"# Leave\n## Annual leave\n{text}\n",
        DocumentDefaults(audience=audience, version=version, effective_date=effective, doc_id="leave"),
    )


def chunk_count(kb) -> int:  # type: ignore[no-untyped-def]
    return int(kb.client.collections.get(kb.collection_name).aggregate.over_all(total_count=True).total_count)


def test_reingesting_identical_content_changes_nothing(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    first = kb.ingest_documents([policy("Staff get 25 days of annual leave.")])
    before = chunk_count(kb)
    second = kb.ingest_documents([policy("Staff get 25 days of annual leave.")])
    assert first[0].status is IngestStatus.ADDED and first[0].version == "1"
    assert second[0].status is IngestStatus.UNCHANGED and second[0].version == "1"
    assert chunk_count(kb) == before == first[0].chunks


def test_new_version_supersedes_the_old_one(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    kb.ingest_documents([policy("Staff get 25 days of annual leave.", effective="2025-01-01")])
    result = kb.ingest_documents([policy("Staff get 28 days of annual leave.", effective="2026-01-01")])[0]
    assert result.status is IngestStatus.REPLACED
    assert (result.version, result.replaced_version) == ("2", "1")
    for alpha in (0.0, 0.5, 1.0):
        passages = kb.retrieve("25 days of annual leave", kb.scope_for("C1"), alpha=alpha)
        assert passages and all("25 days" not in p.text for p in passages)
        assert {p.version for p in passages} == {"2"}
    [doc] = kb.list_documents()
    assert (doc.doc_id, doc.version, doc.chunks) == ("leave", "2", result.chunks)


def test_older_version_does_not_replace_a_newer_one(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    results = kb.ingest_documents(
        [
            policy("Staff get 28 days.", version="2", effective="2026-01-01"),
            policy("Staff get 25 days.", version="1", effective="2025-01-01"),
        ]
    )
    # Sorted by effective date within one batch: v1 goes in, then v2 replaces it.
    assert [r.status for r in results] == [IngestStatus.REPLACED, IngestStatus.ADDED]
    again = kb.ingest_documents([policy("Staff get 25 days.", version="1", effective="2025-01-01")])[0]
    assert again.status is IngestStatus.SKIPPED_OLDER and "older than indexed version 2" in again.error
    assert [d.version for d in kb.list_documents()] == ["2"]


def test_audience_change_is_a_new_version_with_new_acl(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    kb.ingest_documents([policy("Bonus rules.", audience=("everyone",))])
    kb.ingest_documents([policy("Bonus rules.", audience=("hr-team",))])
    assert kb.retrieve("bonus rules", kb.scope_for("C0ENG")) == []
    assert [p.acl for p in kb.retrieve("bonus rules", kb.scope_for("C0HR"))] == [("hr-team",)]


def test_unknown_audience_is_refused_with_the_known_groups(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    [result] = kb.ingest_documents([policy("Text.", audience=("hr",))])
    assert result.status is IngestStatus.FAILED
    assert result.error == "unknown audience hr; known groups: everyone, hr-team"
    assert chunk_count(kb) == 0


def test_forget_removes_every_chunk(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    kb.ingest_documents([policy("Staff get 25 days of annual leave.")])
    assert kb.forget("leave") > 0
    assert kb.forget("leave") == 0
    assert kb.list_documents() == [] and chunk_count(kb) == 0


def test_bad_files_fail_alone_and_leave_nothing_half_indexed(make_kb: KBFactory, tmp_path: Path) -> None:
    kb = make_kb(GROUPS)
    (tmp_path / "good.md").write_text("# Parking\nPermits come from facilities.\n")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (tmp_path / "empty.txt").write_bytes(b"")
    results = kb.ingest_paths([tmp_path, tmp_path / "missing.docx"], DocumentDefaults(audience=("everyone",)))
    by_source = {Path(r.source).name: r for r in results}
    assert by_source["good.md"].status is IngestStatus.ADDED
    assert "not a readable PDF" in by_source["broken.pdf"].error
    assert "file is empty" in by_source["empty.txt"].error
    assert "no such file" in by_source["missing.docx"].error
    assert [d.doc_id for d in kb.list_documents()] == ["good"]


class BrokenChunker(Chunker):
    """Adds a property the schema does not have: Weaviate (auto-schema off) rejects the batch."""

    def chunk(self, doc, metadata, content_hash):  # type: ignore[no-untyped-def]
        nodes = super().chunk(doc, metadata, content_hash)
        nodes[-1].metadata["not_in_schema"] = "x"
        return nodes


def test_failed_write_keeps_the_old_version(make_kb: KBFactory) -> None:
    kb = make_kb(GROUPS)
    long_text = " ".join(f"Rule {i}: staff get 25 days of annual leave." for i in range(120))
    kb.ingest_documents([policy(long_text, effective="2025-01-01")])
    before = chunk_count(kb)
    broken = Ingestor(
        kb._ingestor._store, kb.catalog, kb.embed_model, BrokenChunker(ChunkSettings()), kb.access
    )
    [result] = broken.ingest([policy(long_text.replace("25", "30"), effective="2026-01-01")])
    assert result.status is IngestStatus.FAILED and "index write failed" in result.error
    assert chunk_count(kb) == before
    [doc] = kb.list_documents()
    assert doc.version == "1"
    assert all("25 days" in p.text for p in kb.retrieve("annual leave", kb.scope_for("C1")))
