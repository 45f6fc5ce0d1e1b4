"""`app.py digest` as a lead or operator runs it, on a seeded log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.store.database import create_db_engine, default_url, migrate
from eval.golden import GoldenItem, write_golden
from tests.cli_runner import cli
from tests.test_digest_numbers import MONDAY, Seed
from tests.test_eval_golden import GOOD

pytestmark = pytest.mark.weaviate


def test_the_digest_command_writes_the_page(env: dict[str, str], tmp_path: Path) -> None:
    engine = create_db_engine(default_url(Path(env["SUPPORTBOT_DATA_DIR"])))
    migrate(engine)
    seed = Seed(engine)
    seed.answer(MONDAY, (("U5", "up", ""),), channel="C0HR")
    seed.answer(MONDAY, (("U6", "down", "out of date"),), channel="C0ENG", question="Can I work abroad?")
    engine.dispose()
    out = tmp_path / "digests"
    golden = tmp_path / "golden.jsonl"  # one question the (empty) knowledge base cannot answer
    write_golden(golden, [GoldenItem(**GOOD)])
    config = tmp_path / "with-golden.yaml"
    config.write_text(Path(env["CFG"]).read_text() + f"\ndigest:\n  golden: {golden}\n")
    env = {**env, "CFG": str(config), "ANTHROPIC_API_KEY": ""}
    result = cli(["digest", "--week", "2026-W45", "--out", str(out)], env)
    assert result.returncode == 0, result.stderr
    page = out / "2026-W45" / "all" / "index.html"
    assert f"Digest: {page}" in result.stdout.replace("\n", "")
    assert "Questions" in result.stdout and "1 worst-rated answers" in result.stdout
    assert "Answer quality (RAGAS)" in result.stdout
    assert "RAGAS: golden set: 1 questions asked from these channels, 1 abstained" in result.stdout
    data = json.loads((page.parent / "digest.json").read_text())
    assert data["quality"]["golden set"]["rouge_score"] == 0.0  # an abstention scores nothing
    assert data["headline"]["questions"] == 2 and data["worst"][0]["comments"] == ["out of date"]
    assert sorted(p.name for p in page.parent.glob("*.png")) == [
        "documents.png",
        "latency.png",
        "questions.png",
        "votes.png",
    ]


def test_bad_digest_requests_get_clear_errors(env: dict[str, str]) -> None:
    bad_week = cli(["digest", "--week", "2026-47"], env)
    assert bad_week.returncode == 2 and "a week looks like 2026-W47" in bad_week.stderr
    no_leads = cli(["digest", "--post", "--week", "2026-W45"], env)
    assert no_leads.returncode == 2 and "configure digest.leads" in no_leads.stderr
    no_lead = cli(["digest", "--lead", "nobody"], env)
    assert no_lead.returncode == 2 and "no digest.leads entry named 'nobody'" in no_lead.stderr
