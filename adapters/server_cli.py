"""`python app.py server status|stop`: the embedded Weaviate kept running between commands.

Only the data directory is needed (`--data-dir` or SUPPORTBOT_DATA_DIR), not the settings
file: a server must stay stoppable even while the settings file is broken.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_NOT_RUNNING = 0, 1, 3  # 3 as `systemctl status` for "not running"


def add_commands(commands: argparse._SubParsersAction) -> None:
    server = commands.add_parser(
        "server", help="show or stop the embedded Weaviate that commands share between runs"
    )
    actions = server.add_subparsers(dest="server_command", required=True)
    status = actions.add_parser(
        "status", help="whether a server runs for the data directory: pids, ports, idle time left"
    )
    status.add_argument("--json", action="store_true", help="one JSON object")
    stop = actions.add_parser("stop", help="stop it and wait until it is gone")
    stop.add_argument("--force", action="store_true", help="even while a command (serve, chat) is using it")
    server.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from adapters import terminal
    from bot.settings import EnvSettings

    env = EnvSettings()
    data_dir = args.data_dir or env.data_dir
    if env.weaviate_url:
        terminal.err.print(
            "Note: WEAVIATE_URL is set, so commands use that server, not an embedded one; "
            f"this is about the embedded server of {data_dir}."
        )
    if args.server_command == "stop":
        return _stop(data_dir, args.force)
    return _status(data_dir, args.json)


def _stop(data_dir: Path, force: bool) -> int:
    from adapters import terminal
    from knowledge.weaviate_lifetime import ServerInUseError, stop_server
    from knowledge.weaviate_server import WeaviateStartError

    try:
        stopped = stop_server(data_dir, force=force)
    except (ServerInUseError, WeaviateStartError) as error:
        terminal.error(str(error))
        return EXIT_FAILED
    if stopped is None:
        terminal.out.print(f"No Weaviate server runs for {data_dir}.")
    else:
        terminal.out.print(f"Stopped the Weaviate server of {data_dir} (pid {stopped.pid}).")
    return EXIT_OK


def _status(data_dir: Path, as_json: bool) -> int:
    from adapters import terminal
    from knowledge.weaviate_lifetime import server_status

    status = server_status(data_dir)
    state = status.state
    if as_json:
        terminal.print_json_line(
            {
                "data_dir": str(status.data_dir),
                "running": state is not None,
                "busy": status.busy,
                "ready": status.ready,
                "pid": state.pid if state else None,
                "keeper_pid": state.keeper_pid if state else None,
                "http_port": state.http_port if state else None,
                "grpc_port": state.grpc_port if state else None,
                "in_use": status.in_use,
                "idle_timeout_s": state.idle_timeout if state else None,
                "idle_left_s": status.idle_left,
                "keeper_checked_s_ago": status.last_check,
            }
        )
        return EXIT_OK if state else EXIT_NOT_RUNNING
    if state is None:
        note = " (one is starting or stopping)" if status.busy else ""
        terminal.out.print(f"No Weaviate server runs for {status.data_dir}{note}.")
        return EXIT_NOT_RUNNING
    health = "ready" if status.ready else "NOT answering /v1/.well-known/ready"
    terminal.out.print(f"Weaviate for {status.data_dir}: running, {health}")
    owner = f"keeper pid {state.keeper_pid}" if state.keeper_pid else "owned by the process that started it"
    terminal.out.print(f"  weaviate pid {state.pid}, {owner}")
    terminal.out.print(f"  http://127.0.0.1:{state.http_port}, gRPC 127.0.0.1:{state.grpc_port}")
    if status.in_use:
        terminal.out.print("  in use by a running command: kept while it runs")
    elif status.idle_left is not None and state.idle_timeout is not None:
        terminal.out.print(
            f"  stops itself in {_duration(status.idle_left)} unless a command uses it "
            f"(idle timeout {_duration(state.idle_timeout)})"
        )
    return EXIT_OK


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
