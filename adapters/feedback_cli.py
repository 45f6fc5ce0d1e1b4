"""The command line of the feedback log: `export-finetune` and `feedback stats`."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from adapters import terminal
from adapters.cli_wiring import load_command_settings, open_database
from eval.finetune.formats import FORMATS

if TYPE_CHECKING:  # SQLAlchemy and Weaviate's client load when a command runs, not for --help
    from sqlalchemy import Engine

    from bot.settings import Settings
    from eval.finetune.select import SelectOptions
    from eval.finetune.stats import FeedbackStats, Tally


class FeedbackUsageError(ValueError):
    pass


def add_commands(commands: argparse._SubParsersAction) -> None:
    export_cmd = commands.add_parser("export-finetune", help="fine-tuning datasets from voted answers")
    export_cmd.add_argument("--format", required=True, choices=sorted(FORMATS), help="dataset format")
    export_cmd.add_argument("--out", type=Path, required=True, help="directory for the files")
    export_cmd.add_argument("--since", help="first day, YYYY-MM-DD (UTC)")
    export_cmd.add_argument("--until", help="day after the last, YYYY-MM-DD (UTC)")
    export_cmd.add_argument(
        "--include-restricted", action="store_true", help="also answers quoting restricted documents"
    )
    export_cmd.add_argument(
        "--include-superseded", action="store_true", help="also answers citing replaced document versions"
    )
    export_cmd.add_argument(
        "--no-human-answers",
        action="store_true",
        help="leave out the answers people gave to handed-off questions (by default preferred completions)",
    )
    export_cmd.add_argument("--eval-percent", type=int, default=10, help="share of question groups for eval")
    export_cmd.add_argument("--seed", default="supportbot", help="seed of the train/eval split")
    export_cmd.set_defaults(handler=run_export)
    feedback = commands.add_parser("feedback", help="what the staff's votes say")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True)
    stats = feedback_commands.add_parser("stats", help="votes by week, channel and document")
    stats.add_argument("--json", action="store_true")
    stats.set_defaults(handler=run_stats)


def run_export(args: argparse.Namespace) -> int:
    check_export_usage(args)  # before the slow start
    settings = load_command_settings(args)
    with open_database(settings) as engine:
        return cmd_export(engine, settings, args)


def run_stats(args: argparse.Namespace) -> int:
    settings = load_command_settings(args)
    with open_database(settings) as engine:
        return cmd_stats(engine, args)


def parse_day(value: str | None, flag: str, error: type[ValueError] = FeedbackUsageError) -> datetime | None:
    """A --since/--until day as midnight UTC; None when not given."""
    if not value:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
    except ValueError:
        raise error(f"{flag} must be a date like 2026-01-31, not {value!r}") from None


def check_export_usage(args: argparse.Namespace) -> SelectOptions:
    from eval.finetune.select import SelectOptions

    since, until = parse_day(args.since, "--since"), parse_day(args.until, "--until")
    if since and until and since >= until:
        raise FeedbackUsageError("--since must be before --until")
    if not 0 <= args.eval_percent <= 50:
        raise FeedbackUsageError("--eval-percent must be between 0 and 50")
    if args.out.exists() and not args.out.is_dir():
        raise FeedbackUsageError(f"--out {args.out} is a file, not a directory")
    return SelectOptions(
        since,
        until,
        args.include_restricted,
        args.include_superseded,
        human_answers=not args.no_human_answers,
    )


def cmd_export(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    from eval.finetune.export import ExportError, ExportOptions, export
    from knowledge.access import EVERY_CHANNEL
    from knowledge.catalog import current_versions

    select = check_export_usage(args)
    groups = settings.file.access.groups
    open_groups = frozenset(g for g, channels in groups.items() if EVERY_CHANNEL in channels)
    # The knowledge base says which document versions are current (older ones teach stale facts).
    current = current_versions(settings.knowledge, settings.data_dir)
    options = ExportOptions(args.format, args.out, select, args.eval_percent, args.seed)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=terminal.err,
        transient=True,
    ) as bar:
        task = bar.add_task("selecting voted answers", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=f"writing {stage}", completed=done, total=total or None)

        try:
            result = export(engine, options, open_groups, current, progress)
        except ExportError as error:
            raise FeedbackUsageError(str(error)) from error
    counts = result.manifest["counts"]
    assert isinstance(counts, dict)
    terminal.out.print(
        f"Wrote {counts['train_lines']} train and {counts['eval_lines']} eval lines ({args.format}) to {args.out}"
    )
    excluded = {k.removeprefix("excluded_"): v for k, v in counts.items() if k.startswith("excluded_") and v}
    if excluded:
        terminal.out.print(
            "Left out: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(excluded.items()))
        )
    if result.manifest["empty_because"]:
        terminal.out.print(f"Nothing to export: {result.manifest['empty_because']}.")
    return 0


def cmd_stats(engine: Engine, args: argparse.Namespace) -> int:
    from eval.finetune.stats import feedback_stats

    stats = feedback_stats(engine)
    if args.json:
        terminal.print_json_line(_stats_json(stats))
        return 0
    terminal.out.print(
        f"{stats.overall.total} current votes on {stats.voted_answers} answers "
        f"({stats.overall.up} up, {stats.overall.down} down; {stats.retracted} retracted)"
    )
    for title, rows in (("week", stats.weeks), ("channel", stats.channels), ("document", stats.documents)):
        table = Table(title=f"Votes by {title}", title_justify="left")
        for column in (title, "up", "down", "helpful"):
            table.add_column(column, justify="left" if column == title else "right")
        ordered = (
            sorted(rows.items()) if title == "week" else sorted(rows.items(), key=lambda kv: -kv[1].total)
        )
        for name, tally in ordered:
            table.add_row(terminal.safe(name), str(tally.up), str(tally.down), f"{tally.helpful:.0%}")
        terminal.out.print(table)
    return 0


def _stats_json(stats: FeedbackStats) -> dict[str, object]:
    def rows(table: dict[str, Tally]) -> dict[str, dict[str, int]]:
        return {k: {"up": t.up, "down": t.down} for k, t in sorted(table.items())}

    return {
        "votes": {"up": stats.overall.up, "down": stats.overall.down},
        "retracted": stats.retracted,
        "voted_answers": stats.voted_answers,
        "sources": dict(stats.sources),
        "by_week": rows(stats.weeks),
        "by_channel": rows(stats.channels),
        "by_document": rows(stats.documents),
    }
