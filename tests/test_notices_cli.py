"""`app.py notify-changes --dry-run` as an operator runs it after HR replaced a policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.store.database import create_db_engine, default_url, migrate
from bot.store.interactions import InteractionLog, PassageRecord
from tests.cli_runner import cli
from tests.records import make_record

pytestmark = pytest.mark.weaviate


def policy(folder: Path, version: int) -> Path:
    path = folder / f"bike-v{version}.md"
    path.write_text(
        f"---\nid: bike-scheme\ntitle: Bike Scheme\nversion: {version}\n---\n\n"
        f"Staff may lease a bicycle for up to {version},400 EUR.\n"
    )
    return path


def test_the_dry_run_lists_the_threads_and_posts_nothing(env: dict[str, str], tmp_path: Path) -> None:
    assert cli(["ingest", str(policy(tmp_path, 1))], env).returncode == 0
    engine = create_db_engine(default_url(Path(env["SUPPORTBOT_DATA_DIR"])))
    migrate(engine)
    cited = PassageRecord(
        1, "c1", "bike-scheme", "Bike Scheme", "", "1", "bike-v1.md", ["everyone"], 0.9, "...", 1
    )
    InteractionLog(engine).record(
        make_record(
            question="How much for a bike?", channel="C0ENG", thread_id="1700000400.000100", passages=[cited]
        )
    )
    engine.dispose()
    nothing = cli(["notify-changes", "--dry-run"], env)
    assert nothing.returncode == 0 and "No answer of the period cited a replaced" in nothing.stdout
    assert cli(["ingest", str(policy(tmp_path, 2))], env).returncode == 0
    listed = cli(["notify-changes", "--dry-run"], env)
    assert listed.returncode == 0, listed.stderr
    out = " ".join(listed.stdout.split())
    assert "Notices due (1)" in out and "C0ENG" in out and "v1 -> v2" in out and "fresh answer" in out
    refused = cli(["notify-changes"], {**env, "SLACK_BOT_TOKEN": ""})
    assert refused.returncode == 2 and "needs SLACK_BOT_TOKEN" in refused.stderr
    bad = cli(["notify-changes", "--days", "0"], env)
    assert bad.returncode == 2 and "from 1 to 365" in bad.stderr
