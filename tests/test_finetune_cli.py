"""`export-finetune` and `feedback stats` from the command line, on a seeded log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.store.database import create_db_engine, default_url, migrate
from bot.store.interactions import InteractionLog
from bot.types import VoteSource, VoteValue
from tests.cli_runner import cli, json_lines
from tests.records import make_record

pytestmark = pytest.mark.weaviate


def seed(data_dir: Path) -> None:
    engine = create_db_engine(default_url(data_dir))
    migrate(engine)
    log = InteractionLog(engine)
    for question, votes in [
        ("How long is parental leave? Call me on +44 20 7946 0958", ["up", "up"]),
        ("Can I expense a monitor?", ["down"]),
        ("Who investigates complaints?", ["up"]),
    ]:
        record = make_record(question=question, created_at="2026-10-06T10:00:00+00:00")
        log.record(record)
        for n, value in enumerate(votes):
            log.vote(record.id, f"U{n}", VoteValue(value), VoteSource.REACTION)
    engine.dispose()


def test_stats_then_export_as_an_engineer_would(env: dict[str, str], tmp_path: Path) -> None:
    seed(Path(env["SUPPORTBOT_DATA_DIR"]))
    stats = cli(["feedback", "stats", "--json"], env)
    assert stats.returncode == 0, stats.stderr
    [report] = json_lines(stats.stdout)
    year, week, _ = datetime.now(UTC).isocalendar()  # votes count in the week they were cast
    assert report["votes"] == {"up": 3, "down": 1} and report["by_week"] == {
        f"{year}-W{week:02d}": {"up": 3, "down": 1}
    }
    assert report["by_channel"] == {"C0HR": {"up": 3, "down": 1}}
    assert report["by_document"] == {"parental-leave": {"up": 3, "down": 1}}  # the cited one only
    table = cli(["feedback", "stats"], env)
    assert "Votes by week" in table.stdout and f"{year}-W{week:02d}" in table.stdout
    out = tmp_path / "kto"
    # The empty test collection knows no documents: every cited version counts as replaced.
    result = cli(["export-finetune", "--format", "trl-kto", "--out", str(out), "--eval-percent", "0"], env)
    assert result.returncode == 0, result.stderr
    assert "Nothing to export" in result.stdout and "3 superseded" in result.stdout
    result = cli(
        [
            "export-finetune",
            "--format",
            "trl-kto",
            "--out",
            str(out),
            "--eval-percent",
            "0",
            "--include-superseded",
        ],
        env,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert sorted(line["label"] for line in lines) == [False, True, True]
    assert "7946" not in json.dumps(lines)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["selection"]["include_superseded"] is True and manifest["counts"]["train_lines"] == 3


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--since", "last week"], "--since must be a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since must be before --until"),
        (["--eval-percent", "90"], "--eval-percent must be between 0 and 50"),
    ],
)
def test_bad_options_are_refused_before_anything_starts(
    env: dict[str, str], tmp_path: Path, args: list[str], problem: str
) -> None:
    result = cli(["export-finetune", "--format", "openai-sft", "--out", str(tmp_path / "x"), *args], env)
    assert result.returncode == 2 and problem in result.stderr
    assert not (tmp_path / "x").exists()
