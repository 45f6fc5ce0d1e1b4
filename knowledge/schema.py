"""The chunk collection's schema, owned by us and versioned.

The logical name (e.g. `PolicyChunks`) is a Weaviate alias pointing at a physical
collection whose description carries a stamp: schema version and embedding model.
A change of either makes `open_collection` refuse with a pointer to `reindex`, which
builds a new physical collection, copies every chunk over with fresh vectors, and
swings the alias: queries keep working during the copy. A metadata property added since a
collection was built (e.g. `file_key`) needs no reindex: `open_collection` adds it in place,
and chunks written before simply lack it.

The replication factor is fixed when the physical collection is created, with one shard:
every node holding a replica has the whole collection. On an existing
collection with fewer copies than configured, `open_collection` refuses (Weaviate does
not add replicas by itself); with more, it logs and goes on.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass

import weaviate
from weaviate.classes.config import (
    Configure,
    DataType,
    Property,
    ReplicationDeletionStrategy,
    Tokenization,
)
from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateInvalidInputError

from knowledge.errors import SchemaError
from knowledge.settings import KnowledgeSettings

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_STAMP_RE = re.compile(r"schema=(?P<schema>\d+); embed=(?P<embed>\S+); dim=(?P<dim>\d+)")

# BM25 searches exactly these; everything else is metadata for filters and citations.
SEARCHABLE_PROPERTIES = ["text", "title"]
TEXT_KEY = "text"


@dataclass(frozen=True)
class SchemaStamp:
    schema: int
    embed_model: str
    dimensions: int

    def render(self) -> str:
        return f"supportbot chunks; schema={self.schema}; embed={self.embed_model}; dim={self.dimensions}"

    @classmethod
    def parse(cls, description: str | None) -> SchemaStamp | None:
        match = _STAMP_RE.search(description or "")
        if not match:
            return None
        return cls(int(match["schema"]), match["embed"], int(match["dim"]))


def schema_stamp(settings: KnowledgeSettings) -> SchemaStamp:
    """The stamp this version's schema and configured embedding model put on the collection."""
    return SchemaStamp(SCHEMA_VERSION, settings.embedding.model_name, settings.embedding.dimensions)


def _searchable(name: str) -> Property:
    """Full text for BM25: word tokenization, never used in filters."""
    return Property(
        name=name,
        data_type=DataType.TEXT,
        tokenization=Tokenization.WORD,
        index_searchable=True,
        index_filterable=False,
    )


def _keyword(name: str, data_type: DataType = DataType.TEXT) -> Property:
    """Exact-match metadata: FIELD tokenization so `team-a` never matches `team-ab`."""
    return Property(
        name=name,
        data_type=data_type,
        tokenization=Tokenization.FIELD,
        index_filterable=True,
        index_searchable=False,
    )


def _opaque(name: str) -> Property:
    """Stored for LlamaIndex, never searched or filtered (keeps JSON out of BM25)."""
    return Property(
        name=name,
        data_type=DataType.TEXT,
        index_filterable=False,
        index_searchable=False,
    )


def chunk_properties() -> list[Property]:
    return [
        *(_searchable(name) for name in SEARCHABLE_PROPERTIES),
        _keyword("acl", DataType.TEXT_ARRAY),
        _keyword("doc_id"),
        _keyword("ref_doc_id"),
        _keyword("document_id"),
        _keyword("version"),
        _keyword("effective_date"),
        _keyword("content_hash"),
        _keyword("file_key"),
        _keyword("ingested_at"),
        _opaque("section"),
        _opaque("source"),
        Property(
            name="chunk_index", data_type=DataType.INT, index_filterable=True, index_range_filters=False
        ),
        _opaque("_node_content"),
        _opaque("_node_type"),
    ]


def create_physical_collection(
    client: weaviate.WeaviateClient, name: str, stamp: SchemaStamp, replication_factor: int = 1
) -> None:
    replication = None
    if replication_factor > 1:
        replication = Configure.replication(
            factor=replication_factor,
            async_enabled=True,
            deletion_strategy=ReplicationDeletionStrategy.TIME_BASED_RESOLUTION,
        )
    try:
        client.collections.create(
            name,
            description=stamp.render(),
            properties=chunk_properties(),
            vector_config=Configure.Vectors.self_provided(),
            replication_config=replication,
            # One shard, replicated: Weaviate's default is one shard per node, and BM25 scores
            # per shard, so a cluster would rank differently from a single node (checked: 85 of
            # 200 policy-qa top-5s alike with 3 shards) and fan every query out over the shards.
            sharding_config=Configure.sharding(desired_count=1),
        )
    except UnexpectedStatusCodeError as err:
        if "replication" not in err.message:
            raise
        raise SchemaError(
            f"cannot create collection {name} with replication factor {replication_factor} "
            f"(weaviate.replication_factor): {err.message}"
        ) from err


def new_physical_name(alias: str) -> str:
    return f"{alias}_s{SCHEMA_VERSION}_{time.time_ns() // 1_000_000}"


def open_collection(
    client: weaviate.WeaviateClient, alias: str, stamp: SchemaStamp, replication_factor: int = 1
) -> str:
    """Return the physical collection behind `alias`, creating both on first use."""
    target = current_target(client, alias)
    if target is None:
        if client.collections.exists(alias):
            raise SchemaError(
                f"a collection named {alias!r} exists but is not managed by this bot "
                "(no alias); choose another collection name or delete it"
            )
        target = new_physical_name(alias)
        create_physical_collection(client, target, stamp, replication_factor)
        client.alias.create(alias_name=alias, target_collection=target)
        return target
    config = client.collections.get(target).config.get()
    found = SchemaStamp.parse(config.description)
    if found != stamp:
        raise SchemaError(
            f"collection {alias!r} was built with {found.render() if found else 'an unknown schema'}, "
            f"this version needs {stamp.render()}: run `python app.py reindex`"
        )
    _check_replication(alias, config.replication_config.factor, replication_factor)
    _add_missing_properties(client, target, {p.name for p in config.properties})
    return target


def _add_missing_properties(client: weaviate.WeaviateClient, target: str, present: set[str]) -> None:
    """Metadata properties added since the collection was built (e.g. `file_key`): old chunks
    simply lack them, so the collection is extended in place instead of asking for a reindex."""
    collection = client.collections.get(target)
    for prop in chunk_properties():
        if prop.name in present:
            continue
        try:
            collection.config.add_property(prop)
        except WeaviateInvalidInputError:
            continue  # another process added it since the config was read
        except UnexpectedStatusCodeError as err:
            if "exist" not in err.message:
                raise
            continue
        logger.info("collection %s: added property %s", target, prop.name)


def _check_replication(alias: str, found: int, wanted: int) -> None:
    if found < wanted:
        raise SchemaError(
            f"collection {alias!r} keeps {found} cop{'y' if found == 1 else 'ies'} of each chunk "
            f"(replication factor {found}) but weaviate.replication_factor is {wanted}: Weaviate does not "
            "add replicas to an existing collection by itself. Run `python app.py reindex` to rebuild "
            f"it with factor {wanted}, or set weaviate.replication_factor to {found}"
        )
    if found > wanted:
        logger.info(
            "collection %s has replication factor %d (configured %d): keeping it", alias, found, wanted
        )


def current_target(client: weaviate.WeaviateClient, alias: str) -> str | None:
    found = client.alias.get(alias_name=alias)
    return found.collection if found is not None else None
