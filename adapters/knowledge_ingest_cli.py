"""`python app.py ingest PATH...`: index files or folders (PDF, DOCX, Markdown, HTML, text)."""

from __future__ import annotations

import argparse
from pathlib import Path

from adapters import terminal
from adapters.cli_wiring import EXIT_FAILED, EXIT_OK, UsageError, load_command_settings, open_knowledge_base


def add_commands(commands: argparse._SubParsersAction) -> None:
    ingest = commands.add_parser("ingest", help="index files or folders (PDF, DOCX, Markdown, HTML, text)")
    ingest.add_argument("paths", nargs="+", type=Path)
    ingest.add_argument("--audience", action="append", default=[], help="access group (repeatable)")
    ingest.add_argument("--title", default="", help="title (one document only)")
    ingest.add_argument("--doc-id", default="", help="stable document id (one document only)")
    ingest.add_argument("--version", default="", help="version label; default: next number")
    ingest.add_argument("--effective", default="", help="effective date, YYYY-MM-DD")
    ingest.add_argument("--json", action="store_true", help="one JSON line per document")
    ingest.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    from knowledge.loaders import DocumentDefaults, parse_effective_date

    if (args.title or args.doc_id) and (len(args.paths) > 1 or args.paths[0].is_dir()):
        raise UsageError("--title and --doc-id apply to a single file")
    effective = parse_effective_date(args.effective, "--effective")  # before the slow start
    settings = load_command_settings(args)
    defaults = DocumentDefaults(
        audience=tuple(args.audience) or tuple(settings.file.ingest.default_audience),
        title=args.title,
        version=args.version,
        effective_date=effective,
        doc_id=args.doc_id,
    )
    with open_knowledge_base(settings) as kb:
        progress = terminal.EmbeddingProgress()
        try:
            results = kb.ingest_paths(args.paths, defaults, progress)
        finally:
            progress.close()
    if args.json:
        for result in results:
            terminal.print_json_line(result.as_dict())
    else:
        terminal.show_ingest_results(results)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
