"""`app.py eval` options and `eval build-golden` as a user runs them (the golden runs
themselves are in test_eval_runs.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.eval_cli import EvalUsageError, check_build_usage, check_eval_usage
from app import build_parser
from bot.settings import ConfigError, load_settings
from bot.store.database import create_db_engine, default_url, migrate
from eval.golden import load_golden
from tests.cli_runner import cli
from tests.conftest import REPO
from tests.test_eval_golden import GOOD, seed_votes

pytestmark = pytest.mark.weaviate


def test_a_bad_golden_line_is_refused_before_anything_starts(env: dict[str, str], tmp_path: Path) -> None:
    golden = tmp_path / "golden.jsonl"
    golden.write_text(
        json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "id": "b", "reference_doc_ids": "d"}) + "\n"
    )
    result = cli(["eval", "--golden", str(golden)], env)
    assert result.returncode == 2
    assert f"{golden}:2: reference_doc_ids: Input should be a valid list" in result.stderr
    assert not (Path(env["SUPPORTBOT_DATA_DIR"]) / "weaviate").exists()  # nothing was started


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["eval"], "eval needs --golden FILE"),
        (["eval", "--golden", "{golden}", "--judge", "claude"], "--judge claude needs ANTHROPIC_API_KEY"),
        (["eval", "--golden", "{golden}", "--judge-model", "m"], "--judge-model applies with --judge claude"),
        (["eval", "--golden", "{golden}", "--json", "{dir}"], "is a directory"),
        (["eval", "--golden", "{golden}", "--json", "{dir}/no/such/report.json"], "does not exist"),
        (["eval", "--golden", "{dir}/missing.jsonl"], "cannot read golden set"),
    ],
)
def test_eval_options_are_checked(
    args: list[str], problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "")  # a developer's own key must not count
    golden = tmp_path / "golden.jsonl"
    golden.write_text(json.dumps(GOOD) + "\n")
    parsed = build_parser().parse_args([a.format(golden=golden, dir=tmp_path) for a in args])
    settings = load_settings(REPO / "config" / "sample.yaml", tmp_path)
    with pytest.raises(EvalUsageError, match=problem) as caught:
        check_eval_usage(parsed, settings)
    assert isinstance(caught.value, ConfigError)  # app.py: one line on stderr, exit code 2


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--since", "October"], "--since must be a date"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "--since must be before --until"),
    ],
)
def test_build_golden_options_are_checked(args: list[str], problem: str, tmp_path: Path) -> None:
    parsed = build_parser().parse_args(["eval", "build-golden", "--out", str(tmp_path / "g.jsonl"), *args])
    with pytest.raises(EvalUsageError, match=problem):
        check_build_usage(parsed)


def test_build_golden_from_the_log(env: dict[str, str], tmp_path: Path) -> None:
    engine = create_db_engine(default_url(Path(env["SUPPORTBOT_DATA_DIR"])))
    migrate(engine)
    seed_votes(engine)
    engine.dispose()
    out = tmp_path / "from-log.jsonl"
    args = ["eval", "build-golden", "--out", str(out), "--since", "2026-10-01", "--until", "2026-11-01"]
    result = cli(args, env)
    assert result.returncode == 0, result.stderr
    assert f"Wrote 2 questions to {out} from 6 voted answers" in result.stdout
    assert "1 near-duplicates of a later question" in result.stdout
    # config/sample.yaml opens only `everyone` to every channel: the HR handbook answer is restricted.
    assert "1 of them cite documents not open to every channel" in result.stdout
    assert {i.channel for i in load_golden(out)} == {"C0ENG", "C0HR"}
