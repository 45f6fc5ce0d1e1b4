"""`python app.py digest`: build the weekly digest (HTML, charts, JSON) and optionally post it."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from adapters import terminal
from adapters.cli_wiring import load_command_settings, open_knowledge_and_bot
from eval.digest import DigestError
from eval.digest.week import Week, WeekError

if TYPE_CHECKING:  # matplotlib, numpy and the platform SDKs load only when a digest is made
    from adapters.digests import DigestPublisher
    from bot.settings import DigestSettings
    from eval.digest.build import Digest


def add_commands(commands: argparse._SubParsersAction) -> None:
    digest = commands.add_parser("digest", help="the weekly quality digest for team leads")
    digest.add_argument("--week", help="ISO week, e.g. 2026-W47; default: the last complete week")
    digest.add_argument("--out", type=Path, help="folder for the pages; default <data dir>/digests")
    digest.add_argument("--post", action="store_true", help="post to the leads' channels (digest.leads)")
    digest.add_argument("--lead", help="only this digest.leads entry")
    digest.add_argument("--force", action="store_true", help="with --post: post again a week already posted")
    digest.set_defaults(handler=run_digest)


def run_digest(args: argparse.Namespace) -> int:
    check_digest_usage(args)  # before the slow start
    settings = load_command_settings(args)
    check_digest_settings(settings.file.digest, args)
    from adapters.digests import make_publisher, ragas_quality, teams_poster
    from adapters.slack import web_client

    with open_knowledge_and_bot(settings) as (kb, bot):
        slack = None
        if settings.slack_bot_token is not None:
            slack = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        quality = ragas_quality(settings, bot, kb)
        publisher = make_publisher(settings, bot.log.engine, kb, quality, slack, teams_poster(settings))
        return cmd_digest(publisher, args)


def check_digest_usage(args: argparse.Namespace, zone: str = "UTC") -> Week:
    """The week asked for (default the last complete one), in the digest's time zone."""
    if args.force and not args.post:
        raise WeekError("--force only applies with --post")
    return Week.parse(args.week, zone) if args.week else Week.last_complete(zone=zone)


def check_digest_settings(settings: DigestSettings, args: argparse.Namespace) -> None:
    """The leads asked for exist: checked before the knowledge base starts."""
    names = [t.name for t in settings.leads]
    if args.lead is not None and args.lead not in names:
        raise DigestError(
            f"no digest.leads entry named {args.lead!r} (known: {', '.join(names) or 'none configured'})"
        )
    if args.post and not names:
        raise DigestError("nothing to post to: configure digest.leads (see the README's digest section)")


def cmd_digest(publisher: DigestPublisher, args: argparse.Namespace) -> int:
    week = check_digest_usage(args, publisher.digest_settings.timezone)
    targets = publisher.targets(args.lead)
    if args.post and targets == [None]:
        raise DigestError("nothing to post to: configure digest.leads (see the README's digest section)")
    failed = False
    for target in targets:
        if args.post and target is not None:
            try:
                outcome = asyncio.run(publisher.publish(week, target, args.force, args.out))
            except Exception as error:  # the next target still gets its digest
                terminal.error(f"{target.name}: posting failed: {error}")
                failed = True
                continue
            if outcome.digest is not None:
                _show(outcome.digest)
            terminal.out.print(
                f"{target.name}: {'posted to ' if outcome.posted else 'not posted: '}{outcome.detail}"
            )
        else:
            with terminal.err.status(f"Building the digest of {week}..."):
                digest = publisher.build(week, target, args.out)
            _show(digest)
    return 1 if failed else 0


def _show(digest: Digest) -> None:
    from eval.digest.build import ALL
    from eval.digest.facts import headline_facts

    numbers = digest.numbers
    table = Table(title=digest.title, show_header=False)
    for fact in headline_facts(numbers.headline, numbers.previous):
        table.add_row(fact.label, fact.value, fact.change)
    terminal.out.print(table)
    lists = (
        f"{len(numbers.worst)} worst-rated answers, {len(numbers.gaps)} content gaps, "
        f"{len(numbers.stale)} stale and {len(numbers.superseded)} superseded documents"
    )
    terminal.out.print(lists)
    if digest.quality is not None and digest.quality.rows:
        ragas = Table(title="Answer quality (RAGAS)", title_justify="left")
        for column in ("set", "metric", "score", "change"):
            ragas.add_column(column, justify="right" if column in ("score", "change") else "left")
        for r in digest.quality.rows:
            ragas.add_row(r.set, r.metric, f"{r.score:.3f}", r.change)
        terminal.out.print(ragas)
    for note in digest.quality.notes if digest.quality is not None else ():
        terminal.out.print(f"RAGAS: {terminal.safe(note)}")
    target = "" if digest.target == ALL else f" ({digest.target})"
    terminal.out.print(f"Digest{target}: {digest.files.html}")
