"""The chat platforms at the command line: `serve` (Slack and Teams, and /health) and
`teams-package` (the app package to upload in Teams)."""

from __future__ import annotations

import argparse
from pathlib import Path

from adapters import terminal
from adapters.cli_wiring import EXIT_OK, UsageError, load_command_settings, open_knowledge_and_bot


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve", help="answer in Slack (/slack/events or Socket Mode) and Teams (/api/messages); /health"
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 in a container)")
    serve.add_argument("--port", type=int, default=3000)
    serve.set_defaults(handler=run_serve)

    package = commands.add_parser("teams-package", help="build the Teams app package (manifest + icons zip)")
    package.add_argument("--out", type=Path, default=Path("supportbot-teams.zip"), help="the zip to write")
    package.add_argument("--app-id", help="the Azure bot's app id; default: $MICROSOFT_APP_ID")
    package.add_argument("--domain", required=True, help="host name where serve is reachable")
    package.add_argument("--name", default="Support Bot", help="the app's name in Teams")
    package.add_argument("--version", default="1.0.0", help="bump it for every upload of a change")
    package.add_argument("--developer", default="IT", help="publisher name shown in Teams")
    package.add_argument("--website", default="", help="https URL for the about page; default https://DOMAIN")
    package.set_defaults(handler=build_teams_package)


def run_serve(args: argparse.Namespace) -> int:
    from adapters.serve import check_serve_settings, serve  # the chat SDKs load only for serve

    settings = load_command_settings(args)
    check_serve_settings(settings)  # before the slow start
    with open_knowledge_and_bot(settings) as (kb, bot):
        return serve(bot, kb, settings, args.host, args.port)


def build_teams_package(args: argparse.Namespace) -> int:
    """Needs no settings file, only the app id."""
    from adapters.teams.package import PackageError, PackageOptions, build_package
    from bot.settings import EnvSettings

    app_id = args.app_id or EnvSettings().microsoft_app_id
    if not app_id:
        raise UsageError("teams-package needs the bot's app id: --app-id or MICROSOFT_APP_ID")
    options = PackageOptions(app_id, args.domain, args.name, args.version, args.developer, args.website)
    try:
        out = build_package(options, args.out)
    except PackageError as error:
        raise UsageError(str(error)) from error
    terminal.out.print(f"Wrote {out}: upload it in Teams (Apps -> Manage your apps -> Upload an app).")
    return EXIT_OK
