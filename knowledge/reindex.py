"""Rebuild the chunk collection under the current schema and embedding model.

Copies every chunk from the collection behind the alias into a new one with fresh
vectors, then points the alias at it and drops the old one. Retrieval keeps using the
old collection until the switch; a failed copy drops the new collection and changes nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from llama_index.core.schema import MetadataMode
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from weaviate.classes.data import DataObject

from knowledge.connection import connect
from knowledge.embeddings import load_embedding_model
from knowledge.schema import TEXT_KEY, create_physical_collection, current_target, new_physical_name
from knowledge.service import KnowledgeSettings, schema_stamp

logger = logging.getLogger(__name__)
_BATCH = 256


def reindex(settings: KnowledgeSettings, data_dir: Path) -> int:
    embed = load_embedding_model(settings.embedding)
    alias = settings.weaviate.collection
    with connect(settings.weaviate, data_dir) as client:
        old = current_target(client, alias)
        new = new_physical_name(alias)
        create_physical_collection(client, new, schema_stamp(settings), settings.weaviate.replication_factor)
        target = client.collections.get(new)
        copied = 0
        try:
            if old is not None:
                pending: list[DataObject[Any, Any]] = []
                for obj in client.collections.get(old).iterator():
                    pending.append(DataObject(properties=dict(obj.properties), uuid=obj.uuid))
                    if len(pending) >= _BATCH:
                        copied += _copy(target, pending, embed)
                        pending = []
                copied += _copy(target, pending, embed)
        except Exception:
            client.collections.delete(new)
            raise
        if old is None:
            client.alias.create(alias_name=alias, target_collection=new)
        else:
            client.alias.update(alias_name=alias, new_target_collection=new)
            client.collections.delete(old)
        logger.info("re-indexed %d chunks from %s into %s", copied, old, new)
        return copied


def _copy(target, objects, embed) -> int:  # type: ignore[no-untyped-def]
    if not objects:
        return 0
    texts = []
    for obj in objects:
        node = metadata_dict_to_node(obj.properties)
        node.set_content(str(obj.properties.get(TEXT_KEY, "")))
        texts.append(node.get_content(metadata_mode=MetadataMode.EMBED))
    vectors = embed.get_text_embedding_batch(texts)
    batch = [
        DataObject(properties=o.properties, uuid=o.uuid, vector=v)
        for o, v in zip(objects, vectors, strict=True)
    ]
    result = target.data.insert_many(batch)
    if result.has_errors:
        first = next(iter(result.errors.values()))
        raise RuntimeError(f"re-index refused {len(result.errors)} chunks: {first.message}")
    return len(batch)
