"""The command line as a user runs it: `python app.py ...` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import cli, json_lines
from tests.conftest import REPO

pytestmark = pytest.mark.weaviate


def test_ingest_retrieve_list_forget(env: dict[str, str], tmp_path: Path) -> None:
    ingested = cli(["ingest", "samples/policies", "--json"], env)
    assert ingested.returncode == 0, ingested.stderr
    results = {Path(r["source"]).name: r for r in json_lines(ingested.stdout)}
    assert results["remote-work-v2.md"]["status"] == "replaced"
    assert results["remote-work-v2.md"]["replaced_version"] == "1"
    assert results["hr-investigations.md"]["audience"] == ["hr-team"]

    again = cli(["ingest", "samples/policies", "--json"], env)
    assert {r["status"] for r in json_lines(again.stdout)} <= {"unchanged", "skipped-older"}

    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"id": "q1", "question": "How many days can I work from abroad?"}\n'
        '{"id": 7, "question": "Who can see complaint case files?"}\n'
    )
    out = cli(["retrieve", "--channel", "C0ENG", "--questions", str(questions), "--json"], env)
    assert out.returncode == 0, out.stderr
    rows = json_lines(out.stdout)
    assert [r["id"] for r in rows] == ["q1", 7]
    assert rows[0]["passages"][0]["doc_id"] == "remote-work"
    assert set(rows[0]["passages"][0]) == {
        "chunk_id",
        "doc_id",
        "title",
        "section",
        "version",
        "source",
        "score",
        "text",
    }
    assert all(p["doc_id"] != "hr-investigations" for r in rows for p in r["passages"])

    hr = cli(["retrieve", "--channel", "C0HR", "--json", "Who can see complaint case files?"], env)
    assert json_lines(hr.stdout)[0]["passages"][0]["doc_id"] == "hr-investigations"

    listed = json_lines(cli(["docs", "list", "--json"], env).stdout)
    assert {d["doc_id"]: d["version"] for d in listed}["remote-work"] == "2"

    forgot = cli(["docs", "forget", "hr-investigations"], env)
    assert forgot.returncode == 0 and "Forgot hr-investigations" in forgot.stdout
    missing = cli(["docs", "forget", "hr-investigations"], env)
    assert missing.returncode == 1 and "No document with id" in missing.stderr


def test_interactive_retrieve_prompt(env: dict[str, str]) -> None:
    cli(["ingest", "samples/policies/parental-leave.md"], env)
    out = cli(["retrieve", "--channel", "C0CONSOLE"], env, stdin="second parent leave weeks\n\n")
    assert out.returncode == 0, out.stderr
    assert "Parental Leave > Second parent" in out.stdout


def test_failed_file_sets_exit_code_and_others_still_ingest(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "ok.md").write_text("# Bikes\nBike storage is in the basement.\n")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 nope")
    out = cli(
        ["ingest", str(tmp_path / "ok.md"), str(tmp_path / "bad.pdf"), "--audience", "nonexistent"], env
    )
    assert out.returncode == 1
    assert "bad.pdf: not a readable PDF" in out.stdout.replace("failed ", "").replace(f"{tmp_path}/", "")
    assert "unknown audience nonexistent; known groups:" in out.stdout


def test_bad_config_fails_at_start_with_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("access:\n  groups: {hr: [C1]}\n  channels: [C2]\n")
    out = subprocess.run(
        [sys.executable, "app.py", "--config", str(bad), "docs", "list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert f"{bad}:3: access.channels: unknown key" in out.stderr


def test_reindex_keeps_every_chunk_searchable(env: dict[str, str]) -> None:
    cli(["ingest", "samples/policies/expenses.md"], env)
    before = json_lines(cli(["retrieve", "--channel", "C1", "--json", "meal allowance"], env).stdout)[0]
    out = cli(["reindex"], env)
    assert out.returncode == 0, out.stderr
    assert "Re-indexed 3 chunks" in out.stdout
    after = json_lines(cli(["retrieve", "--channel", "C1", "--json", "meal allowance"], env).stdout)[0]
    assert [p["chunk_id"] for p in after["passages"]] == [p["chunk_id"] for p in before["passages"]]


def test_json_logs_for_log_shippers(samples_env: dict[str, str]) -> None:
    result = cli(
        ["-v", "ask", "--channel", "C0ENG", "How many days can I work remotely?"],
        {**samples_env, "SUPPORTBOT_LOG_FORMAT": "json"},
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"] == "bot.core" and line["message"].startswith("answered ") for line in lines)
    assert all(line.startswith("{") for line in result.stderr.splitlines() if line.strip())
