"""`python app.py notify-changes [--dry-run] [--days N]`: follow up answers whose policy changed."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from adapters import terminal
from adapters.cli_wiring import load_command_settings, open_knowledge_and_bot

if TYPE_CHECKING:
    from adapters.notices import ChangeFollowUp


def add_commands(commands: argparse._SubParsersAction) -> None:
    notify = commands.add_parser("notify-changes", help="tell threads whose answer cited a replaced policy")
    notify.add_argument("--dry-run", action="store_true", help="list what would be posted; post nothing")
    notify.add_argument("--days", type=_days, help="answers of the last N days (default notices.days)")
    notify.set_defaults(handler=run_notify)


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 365:
        raise argparse.ArgumentTypeError(f"a number of days from 1 to 365, not {text!r}")
    return int(text)


def run_notify(args: argparse.Namespace) -> int:
    from adapters.notices import ChangeFollowUp
    from adapters.slack import web_client

    settings = load_command_settings(args)
    with open_knowledge_and_bot(settings) as (kb, bot):
        slack = None
        if settings.slack_bot_token is not None:
            slack = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        teams = None
        if settings.teams is not None:
            from botbuilder.integration.aiohttp import CloudAdapter

            from adapters.teams.auth import BotAuthentication
            from adapters.teams.notices import TeamsNotices

            teams = TeamsNotices(CloudAdapter(BotAuthentication(settings.teams)), settings.teams.app_id)
        follow_up = ChangeFollowUp(bot, kb.list_documents, settings.file.notices, slack, teams)
        return cmd_notify(follow_up, args)


def cmd_notify(follow_up: ChangeFollowUp, args: argparse.Namespace) -> int:
    if args.days is not None:
        follow_up.settings = follow_up.settings.model_copy(update={"days": args.days})
    threads, catalogue = follow_up.plan()
    if args.dry_run:
        if not threads:
            terminal.out.print("No answer of the period cited a replaced or removed policy.")
        else:
            terminal.out.print(f"Notices due ({len(threads)}), nothing posted:")
        for t in threads:
            current = catalogue.get(t.change.doc_id)
            if t.change.new_version is None:
                action = "that the answer is withdrawn"
            elif not follow_up.bot.kb.scope_for(t.channel).groups.intersection(
                current.audience if current else ()
            ):
                action = "that the answer no longer stands (the channel cannot see the new version)"
            else:
                action = "a fresh answer"
            change = f"v{t.change.old_version} -> " + (
                f"v{t.change.new_version}" if t.change.new_version else "removed"
            )
            terminal.out.print(
                f"- {t.platform} {t.channel} thread {t.thread_id}: {t.change.title} {change}; "
                f"would post {action} to {t.question[:80]!r}",
                markup=False,
                soft_wrap=True,
            )
        return 0
    if follow_up.slack is None and any(t.platform == "slack" for t in threads):
        terminal.error("posting notices in Slack needs SLACK_BOT_TOKEN (or use --dry-run to list them)")
        return 2
    if follow_up.teams is None and any(t.platform == "teams" for t in threads):
        terminal.error(
            "posting notices in Teams needs MICROSOFT_APP_ID and MICROSOFT_APP_PASSWORD (or --dry-run)"
        )
        return 2
    posted = asyncio.run(follow_up.run_once())
    terminal.out.print(
        f"Posted {len(posted)} notice(s); {len(threads) - len(posted)} not posted (see the log)."
    )
    return 0
