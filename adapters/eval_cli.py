"""`python app.py eval`: the bot scored on golden sets (answer correctness, abstention both ways,
RAGAS retrieval and answer metrics), and golden sets from the log.

    eval --golden FILE|FOLDER [--judge claude [--judge-model M]] [--json OUT|-]
    eval build-golden --out FILE [--since D] [--until D]

A folder means every `*.jsonl` in it (`eval/golden`: the shipped sets). Without `--config`,
eval uses what `make run` uses (config/sample.yaml, and the data directory: `eval_config`). RAGAS
loads only when `eval --golden` scores (eval.ragas_eval imports it lazily).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters import terminal
from adapters.cli_wiring import load_command_settings, open_database, open_knowledge_and_bot
from adapters.feedback_cli import parse_day
from bot.errors import ConfigError

if TYPE_CHECKING:  # the golden sets, the log's database and RAGAS load when eval runs
    from sqlalchemy import Engine

    from bot.core import SupportBot
    from bot.settings import Settings
    from eval.eval_report import EvalReport
    from eval.golden import GoldenItem
    from knowledge.service import WeaviateKnowledgeBase

EXIT_OK, EXIT_FAILED = 0, 1
# Per-question columns (narrow: the table must fit 80 columns). The id-based recall equals
# recall@k with top-k passages, and the id-based precision is in the summary.
# Context recall, ROUGE-L and string similarity are in the summary and the JSON.
PER_QUESTION = {
    "recall_at_k": "R@k",
    "mrr": "MRR",
    "token_f1": "F1",
    "numbers_recall": "num",
    "answer_correctness": "corr",
    "faithfulness": "faith",
    "answer_relevancy": "relev",
}
KIND = {"generated": "gen", "extracted": "extr", "abstained": "abst", "failed": "FAIL"}
MAKE_RUN = "`make run` (it ingests samples/policies and the policy-qa PDFs) or `python app.py ingest PATH`"


class EvalUsageError(ConfigError):
    """Bad options or golden set. A ConfigError, so app.py reports it as it reports the
    settings' errors: one line, exit code 2."""


def add_commands(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser("eval", help="RAGAS scores of the bot on a golden set")
    evaluate.add_argument(
        "--golden",
        type=Path,
        metavar="FILE",
        help="golden set: JSONL of id, question, reference...; a folder: all its *.jsonl (eval/golden)",
    )
    evaluate.add_argument(
        "--judge",
        choices=["claude"],
        help="also answer correctness, faithfulness and answer relevancy (needs ANTHROPIC_API_KEY)",
    )
    evaluate.add_argument(
        "--judge-model", metavar="MODEL", help="the judge's model; default: answers.claude.model"
    )
    evaluate.add_argument("--json", metavar="OUT", help="write the report as JSON to OUT (- for stdout)")
    steps = evaluate.add_subparsers(dest="eval_command", metavar="{build-golden}")
    build = steps.add_parser("build-golden", help="a golden set from answers the staff voted up")
    build.add_argument("--out", type=Path, required=True, help="the JSONL file to write")
    build.add_argument("--since", help="first day, YYYY-MM-DD (UTC)")
    build.add_argument("--until", help="day after the last, YYYY-MM-DD (UTC)")
    evaluate.set_defaults(handler=run_eval)
    build.set_defaults(handler=run_build_golden)


def eval_config(args: argparse.Namespace) -> Path | None:
    """The settings file eval reads: --config, else $SUPPORTBOT_CONFIG, else what `make run`
    built with (config/sample.yaml), since eval scores that knowledge base."""
    from bot.settings import EnvSettings

    if args.config is not None or EnvSettings().config is not None:
        return None
    return Path(__file__).resolve().parents[1] / "config" / "sample.yaml"


def run_eval(args: argparse.Namespace) -> int:
    settings = load_command_settings(args, eval_config(args))
    golden = check_eval_usage(args, settings)  # before the slow start
    with open_knowledge_and_bot(settings) as (kb, bot):
        return cmd_eval(bot, kb, settings, golden, args)


def run_build_golden(args: argparse.Namespace) -> int:
    check_build_usage(args)  # before the slow start
    settings = load_command_settings(args, eval_config(args))
    with open_database(settings) as engine:
        return cmd_build_golden(engine, settings, args)


def check_eval_usage(args: argparse.Namespace, settings: Settings) -> list[GoldenItem]:
    """The golden set and the judge's key, checked before the slow start."""
    from eval.golden import GoldenError, load_golden_sets

    if args.golden is None:
        raise EvalUsageError("eval needs --golden FILE (or: eval build-golden --out FILE)")
    if importlib.util.find_spec("ragas") is None:  # found without importing it (that takes seconds)
        raise EvalUsageError("eval needs RAGAS: install the eval extra (uv sync --extra eval)")
    if args.judge == "claude" and settings.anthropic_api_key is None:
        raise EvalUsageError("--judge claude needs ANTHROPIC_API_KEY (Claude is the judge)")
    if args.judge_model and not args.judge:
        raise EvalUsageError("--judge-model applies with --judge claude")
    if args.json and args.json != "-":
        if Path(args.json).is_dir():
            raise EvalUsageError(f"--json {args.json} is a directory; name the file to write")
        if not Path(args.json).parent.is_dir():  # found now, not after a long (and paid) run
            raise EvalUsageError(f"--json {args.json}: folder {Path(args.json).parent} does not exist")
    try:
        items = load_golden_sets(args.golden)
    except GoldenError as error:
        raise EvalUsageError(str(error)) from error
    named = {c for channels in settings.file.access.groups.values() for c in channels}
    for channel in sorted({i.channel for i in items} - named):
        terminal.err.print(
            f"note: channel {terminal.safe(channel)} is named in no access group: "
            "it sees only documents open to every channel"
        )
    return items


def cmd_eval(
    bot: SupportBot,
    kb: WeaviateKnowledgeBase,
    settings: Settings,
    items: list[GoldenItem],
    args: argparse.Namespace,
) -> int:
    indexed = {d.doc_id for d in kb.list_documents()}
    if not indexed:  # every score would be 0: say why instead
        terminal.error(f"nothing is indexed in {settings.data_dir}: run {MAKE_RUN}, then eval again")
        return EXIT_FAILED
    absent = sorted({d for i in items for d in i.reference_doc_ids} - indexed)
    if absent:
        asked = sum(not indexed.intersection(i.reference_doc_ids) for i in items if i.answerable)
        shown = ", ".join(absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        terminal.err.print(
            f"warning: {len(absent)} reference documents are not indexed in {settings.data_dir} "
            f"({terminal.safe(shown)}): {asked} questions cannot be answered from them. "
            f"Ingest them ({MAKE_RUN})"
        )
    from eval.ragas_eval import JudgeError, run_golden

    judge = embeddings = None
    if args.judge == "claude" and settings.anthropic_api_key is not None:
        from eval.judge import FastEmbedForRagas, claude_judge  # RAGAS loads here

        key = settings.anthropic_api_key.get_secret_value()
        judge = claude_judge(key, settings.anthropic_base_url, settings.file.answers.claude, args.judge_model)
        embeddings = FastEmbedForRagas(kb.embed_model)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=terminal.err,
        transient=True,
    ) as bar:
        task = bar.add_task("answering", total=len(items))

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        try:
            report = run_golden(
                bot, items, judge, embeddings, top_k=settings.knowledge.retrieval.top_k, progress=progress
            )
        except JudgeError as error:
            terminal.error(str(error))
            return EXIT_FAILED
    payload = {"golden": str(args.golden), **report.as_dict()}
    if args.json == "-":
        terminal.print_json_line(payload)
        return EXIT_OK
    if args.json:
        Path(args.json).write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    show_report(report, args.golden)
    if args.json:
        terminal.out.print(f"Wrote {args.json}")
    return EXIT_OK


def show_report(report: EvalReport, golden: Path) -> None:
    out = terminal.out
    out.print(
        f"{terminal.safe(str(golden))}: {report.questions} questions, answered by "
        f"{report.answerer or 'the bot'}, top_k {report.top_k}, judge {report.judge or 'none'}"
    )
    table = Table(title="RAGAS scores and answer correctness", title_justify="left")
    for column, justify in (("metric", "left"), ("mean", "right"), ("rows", "right"), ("measures", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for metric in report.metrics:
        if metric.rows:
            table.add_row(metric.name, f"{metric.mean:.3f}", str(metric.rows), metric.description)
    out.print(table)
    answered = report.questions - report.abstained - report.failed
    out.print(
        f"Answered {answered}, abstained {report.abstained} "
        f"(abstention rate {report.abstention_rate:.0%}), failed {report.failed}"
    )
    both = report.abstention
    if both.answerable:
        out.print(
            f"Abstained when it should have answered: {both.abstained_answerable} of "
            f"{both.answerable} answerable questions ({both.abstained_when_answerable_rate:.1%})"
        )
    if both.unanswerable:
        out.print(
            f"Answered when it should have abstained: {both.answered_unanswerable} of "
            f"{both.unanswerable} unanswerable questions ({both.answered_when_unanswerable_rate:.1%})"
        )
    shown = [m.name for m in report.metrics if m.rows and m.name in PER_QUESTION]
    rows = Table(title="Per question", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    rows.add_column("id", no_wrap=True)
    rows.add_column("kind")
    for name in shown:
        rows.add_column(PER_QUESTION[name], justify="right")
    for result in report.rows:
        values = result.scores.as_dict()
        cells = ["-" if values[n] is None else f"{values[n]:.2f}" for n in shown]
        kind = KIND.get(result.row.kind, result.row.kind) + ("/u" if result.row.answerable is False else "")
        kind += "!" if result.errors else ""
        rows.add_row(terminal.safe(result.row.id), kind, *cells)
    out.print(rows)
    out.print(
        "kind: gen(erated) by Claude, extr(acted), abst(ained); /u an unanswerable question "
        "(abstaining is right); ! a judge call failed (see --json)"
    )
    for note in report.notes:
        out.print(f"note: {terminal.safe(note)}")


def check_build_usage(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    if args.golden or args.judge or args.json:
        raise EvalUsageError("build-golden takes --out, --since and --until only")
    since = parse_day(args.since, "--since", EvalUsageError)
    until = parse_day(args.until, "--until", EvalUsageError)
    if since and until and since >= until:
        raise EvalUsageError("--since must be before --until")
    if args.out.is_dir():
        raise EvalUsageError(f"--out {args.out} is a directory; name the file to write")
    if not args.out.parent.is_dir():
        raise EvalUsageError(f"--out {args.out}: folder {args.out.parent} does not exist")
    return since, until


def cmd_build_golden(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    from eval.finetune.scrub import Scrubber
    from eval.finetune.select import asker_names
    from eval.golden import golden_from_log, write_golden
    from knowledge.access import EVERY_CHANNEL

    since, until = check_build_usage(args)
    groups = settings.file.access.groups
    open_groups = frozenset(g for g, channels in groups.items() if EVERY_CHANNEL in channels)
    private = (settings.file.slack.dm_scope_channel, settings.file.teams.personal_scope_channel)
    scrubber = Scrubber(names=asker_names(engine))  # as the fine-tuning export scrubs
    found = golden_from_log(engine, since, until, open_groups, private, scrubber)
    left_out = {
        "asked in private conversations": found.private,
        "not voted up on balance": found.not_net_up,
        "abstained or failed": found.not_answered,
        "citing no document": found.no_citation,
        "near-duplicates of a later question": found.collapsed,
    }
    why = ", ".join(f"{n} {reason}" for reason, n in left_out.items() if n)
    if not found.items:
        terminal.out.print(
            f"No question has a net thumbs-up in this period ({found.voted} voted answers"
            + (f": {why}" if why else "")
            + "); nothing written."
        )
        return EXIT_OK
    write_golden(args.out, found.items)
    terminal.out.print(
        f"Wrote {len(found.items)} questions to {args.out} from {found.voted} voted answers"
        + (f" (left out: {why})" if why else "")
        + "."
    )
    if found.scrubbed:
        terminal.out.print(f"Replaced {found.scrubbed} pieces of personal data (names, emails, numbers...).")
    if found.restricted:
        terminal.out.print(
            f"{found.restricted} of them cite documents not open to every channel: keep the file internal."
        )
    return EXIT_OK
