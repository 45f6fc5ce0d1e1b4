"""Opening the knowledge base: Weaviate and the embedding model at once.

A command's start is two waits that need nothing of each other: Weaviate (connecting, or
starting the data directory's embedded server, several seconds when none runs) and
LlamaIndex with the embedding model (imports and the model load, CPU-bound). The connection
is made and the collection opened in a worker thread while this thread imports and loads,
so a start costs the longer of the two, not their sum.

This module imports neither LlamaIndex nor fastembed at its top: importing it starts nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from knowledge.access import AccessPolicy
from knowledge.connection import connect
from knowledge.schema import open_collection, schema_stamp
from knowledge.settings import KnowledgeSettings

if TYPE_CHECKING:
    import weaviate

    from knowledge.service import WeaviateKnowledgeBase


@contextmanager
def open_knowledge(
    settings: KnowledgeSettings, access: AccessPolicy, data_dir: Path
) -> Iterator[WeaviateKnowledgeBase]:
    """The knowledge base on the configured collection, with the embedding model loaded;
    refused (SchemaError) if another schema or embedding model built the collection."""
    # The stack is left last: the pool waits for a connection under way before it is closed.
    with ExitStack() as connection, ThreadPoolExecutor(1, thread_name_prefix="weaviate-open") as pool:

        def open_weaviate() -> tuple[weaviate.WeaviateClient, str]:
            client = connection.enter_context(connect(settings.weaviate, data_dir))
            stamp = schema_stamp(settings)
            return client, open_collection(
                client, settings.weaviate.collection, stamp, settings.weaviate.replication_factor
            )

        opening = pool.submit(open_weaviate)
        from knowledge.embeddings import load_embedding_model
        from knowledge.service import WeaviateKnowledgeBase

        embed_model = load_embedding_model(settings.embedding)
        client, name = opening.result()
        yield WeaviateKnowledgeBase(client, name, embed_model, access, settings)
