"""`app.py eval` options and `eval build-golden` as a user runs them (the golden runs
themselves are in test_eval_runs.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from adapters.eval_cli import EvalUsageError, check_build_usage, check_eval_usage
from app import build_parser
from bot.settings import ConfigError, load_settings
from bot.store.database import create_db_engine, default_url, migrate
from eval.answer_metrics import numbers_in
from eval.golden import load_golden, load_golden_sets
from tests.cli_runner import cli, run
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


def test_eval_without_config_uses_make_runs_settings_and_stops_when_nothing_is_indexed(
    env: dict[str, str],
) -> None:
    # As the README writes it: no --config, the data directory `make run` uses (here the test's
    # own, empty, with an embedded Weaviate of its own).
    bare = {
        k: v for k, v in env.items() if k not in {"WEAVIATE_URL", "WEAVIATE_GRPC_URL", "SUPPORTBOT_CONFIG"}
    }
    result = run(["eval", "--golden", "eval/golden/samples.jsonl"], bare)
    assert result.returncode == 1, result.stderr
    assert f"nothing is indexed in {env['SUPPORTBOT_DATA_DIR']}: run `make run`" in " ".join(
        result.stderr.split()
    )
    # config/sample.yaml was read: C0HR is in its access groups (C0ENG, in none, is noted).
    assert "channel C0ENG is named in no access group" in result.stderr
    assert "channel C0HR" not in result.stderr
    assert "RAGAS scores" not in result.stdout


def test_eval_reports_answer_correctness_and_abstention_both_ways(
    samples_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "golden"
    folder.mkdir()
    for name in ("samples.jsonl", "off-topic.jsonl"):
        shutil.copy(REPO / "eval" / "golden" / name, folder / name)
    items = load_golden_sets(folder)
    out = tmp_path / "report.json"
    result = cli(["eval", "--golden", str(folder), "--json", str(out)], samples_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    answerable = [i for i in items if i.answerable]
    with_numbers = [i for i in answerable if numbers_in(i.reference or "", pronoun_one=False)]
    metrics = report["metrics"]
    assert metrics["token_f1"]["rows"] == len(answerable) and 0 < metrics["token_f1"]["mean"] <= 1
    assert (
        metrics["numbers_recall"]["rows"] == len(with_numbers) and 0 <= metrics["numbers_recall"]["mean"] <= 1
    )
    rows = {row["id"]: row for row in report["rows"]}
    both = report["abstention"]
    assert both["answerable"] == len(answerable) and both["unanswerable"] == len(items) - len(answerable)
    should_abstain = [r for r in rows.values() if r["answerable"] is False]
    assert both["answered_when_unanswerable"] == sum(
        r["kind"] in {"extracted", "generated"} for r in should_abstain
    )
    assert both["abstained_when_answerable"] == sum(
        r["kind"] == "abstained" for r in rows.values() if r["answerable"]
    )
    # Asked where the HR-internal and security samples may not be read: never retrieved there.
    for qid in ("samples-restricted-1", "samples-restricted-2"):
        assert not {"hr-investigations", "incident-response"} & set(rows[qid]["retrieved_doc_ids"])
    assert rows["off-topic-1"]["scores"]["token_f1"] is None  # no reference: only abstention applies
    # The terminal: the summary has the new figures and both abstention lines.
    shown = " ".join(result.stdout.split())
    assert "token_f1" in shown and "numbers_recall" in shown
    assert f"of {both['answerable']} answerable questions" in shown
    assert f"Answered when it should have abstained: {both['answered_when_unanswerable']} of" in shown
