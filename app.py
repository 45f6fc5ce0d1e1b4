"""Composition root of the command line: builds the parser from the command modules, runs
the chosen command's handler and maps failures to exit codes.

python app.py [--config FILE] [--data-dir DIR] COMMAND ...

Each module in COMMAND_MODULES adds its sub-commands (`add_commands`) and sets `handler`.
Their module tops import nothing heavy: LlamaIndex, the embedding model, the Anthropic SDK
and RAGAS load inside the handlers that need them, so `--help` and argument errors are
instant. The exception classes below come from light modules for the same reason.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import warnings
from pathlib import Path
from types import FrameType

import authlib.deprecate

from adapters import terminal
from adapters.cli_wiring import EXIT_FAILED, EXIT_USAGE, UsageError, configure_logging
from adapters.feedback_cli import FeedbackUsageError
from bot.errors import ConfigError, DatabaseError
from eval.digest import DigestError
from eval.digest.week import WeekError
from knowledge.errors import EmbeddingModelError, SchemaError
from knowledge.loaders import DocumentError
from knowledge.weaviate_server import WeaviateStartError

# weaviate-client imports authlib's httpx integration, which warns on every start.
warnings.filterwarnings("ignore", category=authlib.deprecate.AuthlibDeprecationWarning)

# One line per command module, in the order their commands appear in --help.
COMMAND_MODULES = [
    "adapters.ingest_cli",  # ingest
    "adapters.knowledge_cli",  # retrieve, docs, reindex
    "adapters.chat_cli",  # ask, chat
    "adapters.platforms_cli",  # serve, teams-package
    "adapters.feedback_cli",  # export-finetune, feedback
    "adapters.eval_cli",  # eval
    "adapters.digest_cli",  # digest
    "adapters.notices_cli",  # notify-changes
    "adapters.server_cli",  # server status|stop
]

USAGE_ERRORS = (ConfigError, UsageError, DocumentError, FeedbackUsageError, WeekError, DigestError)
START_ERRORS = (WeaviateStartError, SchemaError, EmbeddingModelError, DatabaseError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="app.py", description="Internal-support bot: knowledge base and answers."
    )
    parser.add_argument("--config", type=Path, help="settings file (YAML); default: $SUPPORTBOT_CONFIG")
    parser.add_argument(
        "--data-dir", type=Path, help="Weaviate data and database; default: $SUPPORTBOT_DATA_DIR or ./data"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(commands)
    return parser


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinds like Ctrl-C does, so connections close and the Weaviate lease is let go.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("text", args.verbose)
    if not args.verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        return int(args.handler(args))
    except USAGE_ERRORS as error:
        terminal.error(str(error))
        return EXIT_USAGE
    except START_ERRORS as error:
        terminal.error(str(error))
        return EXIT_FAILED
    except KeyboardInterrupt:
        terminal.err.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
