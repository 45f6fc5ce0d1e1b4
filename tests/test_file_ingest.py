"""Many files in one run against a real Weaviate: skip by bytes, re-ingest on what matters."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import weaviate
from weaviate.classes.config import Configure

from knowledge.chunking import Chunker, ChunkSettings
from knowledge.embeddings import embedding_window
from knowledge.file_ingest import FileIngest, expand
from knowledge.ingest import Ingestor, chunking_fingerprint
from knowledge.loaders import DocumentDefaults, LoaderSettings
from knowledge.schema import SCHEMA_VERSION, SchemaStamp, chunk_properties, open_collection
from knowledge.service import WeaviateKnowledgeBase
from knowledge.types import IngestStatus
from tests.conftest import KBFactory

pytestmark = pytest.mark.weaviate
GROUPS = {"hr-team": ["C0HR"], "everyone": ["*"]}
EVERYONE = DocumentDefaults(audience=("everyone",))
# Any file parsed under these settings fails ("over the size limit"): a run that reports a
# file unchanged under them cannot have parsed it.
NO_PARSING = LoaderSettings(max_file_mb=1e-9)


class Runs:
    """FileIngest over one knowledge base; counts how often the embedding side was built."""

    def __init__(self, kb: WeaviateKnowledgeBase) -> None:
        self.kb = kb
        self.built = 0

    def ingest(
        self,
        paths: list[Path],
        defaults: DocumentDefaults = EVERYONE,
        chunking: ChunkSettings | None = None,
        loader: LoaderSettings | None = None,
    ):  # type: ignore[no-untyped-def]
        chunk = chunking or ChunkSettings()
        kb = self.kb

        def build() -> Ingestor:
            self.built += 1
            chunker = Chunker(chunk, embedding_window(kb.embed_model))
            return Ingestor(kb._ingestor._store, kb.catalog, kb.embed_model, chunker, kb.access)

        fingerprint = chunking_fingerprint(chunk, kb.embed_model.model_name)
        run = FileIngest(kb.catalog, kb.access, loader or LoaderSettings(), fingerprint, build)
        return {Path(r.source).name: r for r in run.run(expand(paths, defaults))}


def write_policies(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "parking.md").write_text("# Parking\nPermits come from facilities, 30 EUR a month.\n")
    (folder / "bikes.md").write_text("# Bikes\nThe bike shed opens at seven.\n")
    return folder


def test_unchanged_files_are_skipped_unparsed_and_without_the_model(
    make_kb: KBFactory, tmp_path: Path
) -> None:
    runs = Runs(make_kb(GROUPS))
    folder = write_policies(tmp_path / "docs")
    first = runs.ingest([folder])
    assert {r.status for r in first.values()} == {IngestStatus.ADDED}
    before = runs.kb.list_documents()
    runs.built = 0
    second = runs.ingest([folder], loader=NO_PARSING)
    assert {name: r.status for name, r in second.items()} == {
        "bikes.md": IngestStatus.UNCHANGED,
        "parking.md": IngestStatus.UNCHANGED,
    }
    assert second["parking.md"].chunks == first["parking.md"].chunks > 0
    assert second["parking.md"].version == "1"
    assert runs.built == 0  # no model, no chunker: nothing was embedded
    assert runs.kb.list_documents() == before  # no new version, same ingested_at


def test_changed_bytes_are_read_and_replace_only_their_document(make_kb: KBFactory, tmp_path: Path) -> None:
    runs = Runs(make_kb(GROUPS))
    folder = write_policies(tmp_path / "docs")
    runs.ingest([folder])
    (folder / "parking.md").write_text("# Parking\nPermits come from facilities, 35 EUR a month.\n")
    results = runs.ingest([folder])
    assert results["parking.md"].status is IngestStatus.REPLACED
    assert (results["parking.md"].version, results["parking.md"].replaced_version) == ("2", "1")
    assert results["bikes.md"].status is IngestStatus.UNCHANGED
    [passage] = runs.kb.retrieve("parking permit price", runs.kb.scope_for("C1"), top_k=1)
    assert "35 EUR" in passage.text


def test_an_audience_change_reingests_the_unchanged_file(make_kb: KBFactory, tmp_path: Path) -> None:
    runs = Runs(make_kb(GROUPS))
    folder = write_policies(tmp_path / "docs")
    runs.ingest([folder / "parking.md"])
    results = runs.ingest([folder / "parking.md"], DocumentDefaults(audience=("hr-team",)))
    assert results["parking.md"].status is IngestStatus.REPLACED
    assert runs.kb.retrieve("parking permits", runs.kb.scope_for("C0ENG")) == []
    assert {p.acl for p in runs.kb.retrieve("parking permits", runs.kb.scope_for("C0HR"))} == {("hr-team",)}


def test_a_chunk_size_change_rechunks(make_kb: KBFactory, tmp_path: Path) -> None:
    runs = Runs(make_kb(GROUPS))
    (tmp_path / "long.md").write_text(
        "# Leave\n" + " ".join(f"Rule {i}: staff get {i} days of leave." for i in range(200)) + "\n"
    )
    first = runs.ingest([tmp_path / "long.md"])["long.md"]
    again = runs.ingest([tmp_path / "long.md"], chunking=ChunkSettings(chunk_size=128))["long.md"]
    assert again.status is IngestStatus.REPLACED
    assert again.chunks > first.chunks


def test_documents_indexed_before_file_keys_are_read_once_then_skipped(
    make_kb: KBFactory, tmp_path: Path
) -> None:
    """An index written without file keys (older versions, or a chat post's path) is not
    re-embedded: the file is parsed once, found unchanged, and its key recorded."""
    kb = make_kb(GROUPS)
    folder = write_policies(tmp_path / "docs")
    [old] = kb.ingest_paths([folder / "parking.md"], EVERYONE)
    runs = Runs(kb)
    read = runs.ingest([folder / "parking.md"])["parking.md"]
    assert (read.status, read.version, read.chunks) == (IngestStatus.UNCHANGED, "1", old.chunks)
    assert runs.built == 0
    skipped = runs.ingest([folder / "parking.md"], loader=NO_PARSING)["parking.md"]
    assert skipped.status is IngestStatus.UNCHANGED


def test_failed_files_are_reported_and_the_others_go_in(make_kb: KBFactory, tmp_path: Path) -> None:
    runs = Runs(make_kb(GROUPS))
    folder = write_policies(tmp_path / "docs")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (folder / "empty.txt").write_bytes(b"")
    results = runs.ingest([folder, tmp_path / "missing.md"])
    assert results["parking.md"].status is IngestStatus.ADDED
    assert results["bikes.md"].status is IngestStatus.ADDED
    assert "not a readable PDF" in results["broken.pdf"].error
    assert "file is empty" in results["empty.txt"].error
    assert "no such file" in results["missing.md"].error
    unknown = runs.ingest([folder / "bikes.md"], DocumentDefaults(audience=("nobody",)))["bikes.md"]
    assert unknown.status is IngestStatus.FAILED and "unknown audience nobody" in unknown.error
    assert sorted(d.doc_id for d in runs.kb.list_documents()) == ["bikes", "parking"]


def test_a_collection_built_before_file_keys_gains_the_property(
    weaviate_client: weaviate.WeaviateClient, embedding_settings
) -> None:  # type: ignore[no-untyped-def]
    alias = f"Old_{uuid.uuid4().hex[:10]}"
    stamp = SchemaStamp(SCHEMA_VERSION, embedding_settings.model_name, embedding_settings.dimensions)
    physical = f"{alias}_s1_old"
    weaviate_client.collections.create(
        physical,
        description=stamp.render(),
        properties=[p for p in chunk_properties() if p.name != "file_key"],
        vector_config=Configure.Vectors.self_provided(),
    )
    weaviate_client.alias.create(alias_name=alias, target_collection=physical)
    assert open_collection(weaviate_client, alias, stamp) == physical
    names = {p.name for p in weaviate_client.collections.get(physical).config.get().properties}
    assert "file_key" in names
    assert open_collection(weaviate_client, alias, stamp) == physical  # a second open adds nothing
