"""The knowledge base as the rest of the bot sees it, and how to open one.

`open_knowledge` connects to Weaviate (embedded server or `WEAVIATE_URL`), opens the
versioned collection and loads the embedding model. What only reads or deletes from the
catalogue (`docs list`, `docs forget`, the export's current versions) opens it through
`knowledge.catalog.open_catalog`, which loads neither the model nor LlamaIndex.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import weaviate
from llama_index.core.base.embeddings.base import BaseEmbedding

from knowledge.access import AccessPolicy
from knowledge.catalog import Catalog
from knowledge.chunking import Chunker
from knowledge.connection import collection_handles, connect
from knowledge.embeddings import embedding_window, load_embedding_model
from knowledge.ingest import Ingestor, Progress
from knowledge.loaders import DocumentDefaults, DocumentError, iter_files, load_file
from knowledge.query_engine import Answered, AnswerFn
from knowledge.retrieval import Retriever
from knowledge.schema import TEXT_KEY, open_collection, schema_stamp
from knowledge.settings import KnowledgeSettings
from knowledge.store import ScopedWeaviateVectorStore
from knowledge.types import AccessScope, DocumentInfo, IngestResult, IngestStatus, Passage, SourceDocument

logger = logging.getLogger(__name__)
T = TypeVar("T")


class KnowledgeBase(Protocol):
    """The seam the bot core depends on."""

    def scope_for(self, channel: str) -> AccessScope: ...

    def retrieve(
        self, question: str, scope: AccessScope, top_k: int | None = None, alpha: float | None = None
    ) -> list[Passage]: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors of `texts` by the index's own embedding model (answerers compare sentences)."""
        ...

    def answer(self, question: str, scope: AccessScope, answer: AnswerFn[T]) -> Answered[T]:
        """Retrieve for `scope` and hand the passages to `answer`, as one query engine; raises
        `RetrievalError` when the search fails."""
        ...


class WeaviateKnowledgeBase:
    def __init__(
        self,
        client: weaviate.WeaviateClient,
        collection_name: str,
        embed_model: BaseEmbedding,
        access: AccessPolicy,
        settings: KnowledgeSettings,
    ) -> None:
        self.access = access
        self.settings = settings
        self.collection_name = collection_name
        self.embed_model = embed_model
        self.reconnect(client)

    def reconnect(self, client: weaviate.WeaviateClient) -> None:
        """Read and write through `client` from now on (serve's supervisor hands over a new one
        after a restart); a search already under way finishes, or fails, on the old one."""
        self.client = client
        # The one place the consistency levels are applied: every read and write below goes
        # through these two handles (the store's LlamaIndex paths and the catalogue alike).
        handles = collection_handles(client, self.collection_name, self.settings.weaviate)
        store = ScopedWeaviateVectorStore(
            weaviate_client=client,
            index_name=self.collection_name,
            text_key=TEXT_KEY,
            url=None,
            collections=handles,
        )
        self.catalog = Catalog(handles)
        self._retriever = Retriever(store, self.embed_model, self.settings.retrieval)
        # Chunks sized in the model's own word pieces, so no chunk's tail goes unembedded.
        chunker = Chunker(self.settings.chunking, embedding_window(self.embed_model))
        self._ingestor = Ingestor(store, self.catalog, self.embed_model, chunker, self.access)

    def scope_for(self, channel: str) -> AccessScope:
        return self.access.scope_for(channel)

    def retrieve(
        self, question: str, scope: AccessScope, top_k: int | None = None, alpha: float | None = None
    ) -> list[Passage]:
        return self._retriever.retrieve(question, scope, top_k=top_k, alpha=alpha)

    def answer(self, question: str, scope: AccessScope, answer: AnswerFn[T]) -> Answered[T]:
        return self._retriever.answer(question, scope, answer)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return self.embed_model.get_text_embedding_batch(list(texts)) if texts else []

    def ingest_documents(
        self, docs: list[SourceDocument], progress: Progress | None = None
    ) -> list[IngestResult]:
        return self._ingestor.ingest(docs, progress)

    def ingest_paths(
        self, paths: list[Path], defaults: DocumentDefaults, progress: Progress | None = None
    ) -> list[IngestResult]:
        """Load every file (one bad file does not stop the others), then ingest the good ones."""
        failed: list[IngestResult] = []
        docs: list[SourceDocument] = []
        for item in iter_files(paths):
            try:
                if isinstance(item, DocumentError):
                    raise item
                docs.append(load_file(item, defaults, self.settings.loader))
            except DocumentError as err:
                failed.append(IngestResult(err.source, IngestStatus.FAILED, error=err.reason))
            except OSError as err:
                failed.append(IngestResult(str(item), IngestStatus.FAILED, error=err.strerror or str(err)))
        return failed + self.ingest_documents(docs, progress)

    def list_documents(self) -> list[DocumentInfo]:
        return self.catalog.list()

    def forget(self, doc_id: str) -> int:
        """Remove every chunk of `doc_id`; returns how many were removed (0: unknown id)."""
        return self.catalog.delete(doc_id)


@contextmanager
def open_knowledge(
    settings: KnowledgeSettings, access: AccessPolicy, data_dir: Path
) -> Iterator[WeaviateKnowledgeBase]:
    embed_model = load_embedding_model(settings.embedding)
    with connect(settings.weaviate, data_dir) as client:
        name = open_collection(
            client, settings.weaviate.collection, schema_stamp(settings), settings.weaviate.replication_factor
        )
        yield WeaviateKnowledgeBase(client, name, embed_model, access, settings)
