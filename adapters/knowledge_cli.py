"""The knowledge base at the command line: `retrieve`, `docs list|forget` and `reindex`.

`docs` opens the catalogue alone (knowledge.catalog.open_catalog): listing or forgetting
documents loads neither the embedding model nor LlamaIndex.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from adapters import terminal
from adapters.cli_wiring import (
    EXIT_FAILED,
    EXIT_OK,
    load_command_settings,
    open_knowledge_base,
    question_batch,
)

if TYPE_CHECKING:
    from knowledge.types import Passage


def add_commands(commands: argparse._SubParsersAction) -> None:
    retrieve = commands.add_parser("retrieve", help="passages a channel may see for a question")
    retrieve.add_argument("question", nargs="?", help="omit for an interactive prompt")
    retrieve.add_argument("--channel", required=True, help="the asking channel id (decides access)")
    retrieve.add_argument("--questions", type=Path, help='JSONL of {"id", "question"}; needs --json')
    retrieve.add_argument("--top-k", type=int, help="passages per question")
    retrieve.add_argument("--alpha", type=float, help="vector weight 0..1 (0: BM25 only)")
    retrieve.add_argument("--json", action="store_true")
    retrieve.set_defaults(handler=run_retrieve)

    docs = commands.add_parser("docs", help="list or forget indexed documents")
    docs_commands = docs.add_subparsers(dest="docs_command", required=True)
    docs_list = docs_commands.add_parser("list")
    docs_list.add_argument("--json", action="store_true")
    docs_list.set_defaults(handler=list_documents)
    forget = docs_commands.add_parser("forget")
    forget.add_argument("doc_id")
    forget.set_defaults(handler=forget_document)

    reindex = commands.add_parser(
        "reindex", help="rebuild the collection (schema or embedding model changed)"
    )
    reindex.set_defaults(handler=run_reindex)


def run_retrieve(args: argparse.Namespace) -> int:
    batch = question_batch(args)  # before the slow start
    settings = load_command_settings(args)
    with open_knowledge_base(settings) as kb:
        scope = kb.scope_for(args.channel)

        def run(question: str) -> list[Passage]:
            return kb.retrieve(question, scope, top_k=args.top_k, alpha=args.alpha)

        if batch is not None:
            for qid, question in batch:
                terminal.print_json_line({"id": qid, "passages": [p.as_dict() for p in run(question)]})
            return EXIT_OK
        if args.question:
            passages = run(args.question)
            if args.json:
                terminal.print_json_line({"id": None, "passages": [p.as_dict() for p in passages]})
            else:
                terminal.show_passages(passages)
            return EXIT_OK
        groups = ", ".join(sorted(scope.groups)) or "none"
        terminal.out.print(
            f"Retrieving as channel {args.channel} (groups: {groups}). Empty line or Ctrl-D quits."
        )
        while True:
            try:
                question = input("question> ").strip()
            except EOFError:
                break
            if not question or question in {"quit", "exit"}:
                break
            terminal.show_passages(run(question))
    return EXIT_OK


def list_documents(args: argparse.Namespace) -> int:
    from knowledge.catalog import open_catalog

    settings = load_command_settings(args)
    with open_catalog(settings.knowledge, settings.data_dir) as catalog:
        docs = catalog.list()
    if args.json:
        for d in docs:
            terminal.print_json_line({**d.__dict__, "audience": list(d.audience)})
    else:
        terminal.show_documents(docs)
    return EXIT_OK


def forget_document(args: argparse.Namespace) -> int:
    from knowledge.catalog import open_catalog

    settings = load_command_settings(args)
    with open_catalog(settings.knowledge, settings.data_dir) as catalog:
        removed = catalog.delete(args.doc_id)
    if not removed:
        terminal.err.print(f"No document with id {args.doc_id!r}; `docs list` shows the ids.")
        return EXIT_FAILED
    terminal.out.print(f"Forgot {args.doc_id} ({removed} chunks removed).")
    return EXIT_OK


def run_reindex(args: argparse.Namespace) -> int:
    from knowledge.reindex import reindex

    settings = load_command_settings(args)
    copied = reindex(settings.knowledge, settings.data_dir)
    terminal.out.print(f"Re-indexed {copied} chunks.")
    return EXIT_OK
