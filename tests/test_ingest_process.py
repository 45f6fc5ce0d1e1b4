"""Ingest jobs in a process of their own: results come back, failures become clear errors."""

from __future__ import annotations

import asyncio
import sys
import zipfile
from pathlib import Path

import pytest

from knowledge.connection import WeaviateSettings
from knowledge.embeddings import EmbeddingSettings
from knowledge.ingest_process import IngestJob, IngestJobError, PostedPath, PostedText, ProcessIngest
from knowledge.loaders import DocumentDefaults
from knowledge.service import WeaviateKnowledgeBase
from knowledge.settings import KnowledgeSettings
from knowledge.types import IngestStatus
from knowledge.weaviate_server import Endpoint
from tests.conftest import KBFactory

pytestmark = pytest.mark.weaviate

EVERYONE = DocumentDefaults(audience=("everyone",))


@pytest.fixture
def kb(make_kb: KBFactory) -> WeaviateKnowledgeBase:
    return make_kb({"everyone": ["*"]})


def child_settings(
    kb: WeaviateKnowledgeBase, server: Endpoint, embedding: EmbeddingSettings
) -> KnowledgeSettings:
    """The settings `serve` would hand its ingest jobs, on the test's own collection."""
    weaviate = WeaviateSettings(
        url=f"http://{server.host}:{server.http_port}",
        grpc_url=f"http://{server.host}:{server.grpc_port}",
        collection=kb.settings.weaviate.collection,
    )
    return KnowledgeSettings(weaviate=weaviate, embedding=embedding)


def bomb(path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:p/>" * 300_000)  # 1.8 MB of XML in a few KB
    return path


def test_a_job_is_indexed_by_its_own_process_and_refusals_come_back(
    kb: WeaviateKnowledgeBase,
    weaviate_server: Endpoint,
    embedding_settings: EmbeddingSettings,
    tmp_path: Path,
) -> None:
    jobs = ProcessIngest(
        child_settings(kb, weaviate_server, embedding_settings), kb.access, tmp_path / "data", timeout=600
    )
    text = "# Bike to work scheme\n\nEmployees can lease a bicycle through payroll once every four years."
    job = IngestJob(
        (
            PostedText("post in C0INGEST", text, EVERYONE),
            PostedPath(bomb(tmp_path / "bomb.docx"), "https://slack/bomb.docx", EVERYONE),
        )
    )
    refused, added = asyncio.run(jobs.run(job))
    assert refused.status is IngestStatus.FAILED and refused.source == "bomb.docx"
    assert refused.error == "holds 300,001 elements, over the limit of 200,000 (loader.max_elements)"
    assert added.status is IngestStatus.ADDED and added.chunks == 1
    # Written by the child, seen by this process.
    [doc] = kb.list_documents()
    assert (doc.doc_id, doc.title, doc.source) == (
        "bike-to-work-scheme",
        "Bike to work scheme",
        "post in C0INGEST",
    )


def test_a_refused_job_needs_no_knowledge_base(kb: WeaviateKnowledgeBase, tmp_path: Path) -> None:
    # Nothing to index: the child neither loads the model nor connects (this URL has no server).
    settings = KnowledgeSettings(weaviate=WeaviateSettings(url="http://127.0.0.1:9", collection="Nowhere"))
    jobs = ProcessIngest(settings, kb.access, tmp_path, timeout=600)
    [refused] = asyncio.run(jobs.run(IngestJob((PostedText("post", "x" * 2_000_000, EVERYONE),))))
    assert "over the limit of 1,000,000 (loader.max_text_chars)" in (refused.error or "")


def test_a_failed_job_is_an_error_for_the_poster(kb: WeaviateKnowledgeBase, tmp_path: Path) -> None:
    settings = KnowledgeSettings(weaviate=WeaviateSettings(url="http://127.0.0.1:9", collection="Nowhere"))
    jobs = ProcessIngest(settings, kb.access, tmp_path, timeout=600)
    with pytest.raises(IngestJobError, match=r"the ingest failed \(WeaviateConnectError: no Weaviate server"):
        asyncio.run(jobs.run(IngestJob((PostedText("post", "Leave\n\nStaff get 25 days.", EVERYONE),))))


def test_a_crashed_or_stuck_child_is_reported_not_waited_for(
    kb: WeaviateKnowledgeBase, tmp_path: Path
) -> None:
    job = IngestJob((PostedText("post", "Leave\n\nStaff get 25 days.", EVERYONE),))
    crashing = ProcessIngest(
        kb.settings,
        kb.access,
        tmp_path,
        timeout=600,
        command=[sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
    )
    with pytest.raises(
        IngestJobError, match=r"ended unexpectedly \(killed by SIGKILL, perhaps out of memory"
    ):
        asyncio.run(crashing.run(job))
    silent = ProcessIngest(
        kb.settings, kb.access, tmp_path, timeout=600, command=[sys.executable, "-c", "pass"]
    )
    with pytest.raises(IngestJobError, match=r"ended unexpectedly \(exit status 0\)"):
        asyncio.run(silent.run(job))
    stuck = ProcessIngest(
        kb.settings,
        kb.access,
        tmp_path,
        timeout=0.5,
        command=[sys.executable, "-c", "import time; time.sleep(600)"],
    )
    with pytest.raises(IngestJobError, match=r"longer than 0.5 s \(ingest.job_timeout\) and was stopped"):
        asyncio.run(stuck.run(job))
