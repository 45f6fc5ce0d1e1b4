"""`app.py ingest --manifest`: per-folder audiences in one run, as a user runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_runner import cli, json_lines

pytestmark = pytest.mark.weaviate
MODEL_LOAD = "loading embedding model"  # knowledge/embeddings.py logs it (-v) when the model loads


def folders(root: Path) -> Path:
    (root / "hr").mkdir(parents=True)
    (root / "public").mkdir()
    (root / "hr" / "grievances.md").write_text("# Grievances\nFile a grievance with the HR case desk.\n")
    (root / "public" / "canteen.md").write_text("# Canteen\nThe canteen serves lunch from noon.\n")
    (root / "public" / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    manifest = root / "manifest.yaml"
    manifest.write_text(
        "documents:\n  - path: hr\n    audience: hr-team\n  - path: public\n    audience: everyone\n"
    )
    return manifest


def by_name(stdout: str) -> dict[str, dict]:  # type: ignore[type-arg]
    return {Path(r["source"]).name: r for r in json_lines(stdout)}


def test_a_manifest_run_gives_each_folder_its_audience_and_skips_what_is_unchanged(
    env: dict[str, str], tmp_path: Path
) -> None:
    manifest = folders(tmp_path / "docs")
    first = cli(["-v", "ingest", "--manifest", str(manifest), "--json"], env)
    assert first.returncode == 1, first.stderr  # broken.pdf failed, alone
    results = by_name(first.stdout)
    assert (results["grievances.md"]["status"], results["grievances.md"]["audience"]) == (
        "added",
        ["hr-team"],
    )
    assert (results["canteen.md"]["status"], results["canteen.md"]["audience"]) == ("added", ["everyone"])
    assert (
        results["broken.pdf"]["status"] == "failed" and "not a readable PDF" in results["broken.pdf"]["error"]
    )
    assert "3 files: 2 added, 0 replaced, 0 unchanged, 1 failed" in first.stderr
    assert MODEL_LOAD in first.stderr

    hr = json_lines(cli(["retrieve", "--channel", "C0HR", "grievance case desk", "--json"], env).stdout)
    other = json_lines(cli(["retrieve", "--channel", "C0ENG", "grievance case desk", "--json"], env).stdout)
    assert "grievances" in {p["doc_id"] for p in hr[0]["passages"]}
    assert {p["doc_id"] for p in other[0]["passages"]} == {"canteen"}

    again = cli(["-v", "ingest", "--manifest", str(manifest), "--json"], env)
    assert {name: r["status"] for name, r in by_name(again.stdout).items()} == {
        "grievances.md": "unchanged",
        "canteen.md": "unchanged",
        "broken.pdf": "failed",
    }
    assert MODEL_LOAD not in again.stderr  # nothing to embed: the model never loads

    manifest.write_text(
        "documents:\n  - path: hr\n    audience: hr-team\n  - path: public/canteen.md\n    audience: hr-team\n"
    )
    moved = cli(["ingest", "--manifest", str(manifest), "--json"], env)
    assert moved.returncode == 0, moved.stderr
    canteen = by_name(moved.stdout)["canteen.md"]
    assert (canteen["status"], canteen["version"], canteen["audience"]) == ("replaced", "2", ["hr-team"])
    assert by_name(moved.stdout)["grievances.md"]["status"] == "unchanged"


def test_a_bad_manifest_ingests_nothing(env: dict[str, str], tmp_path: Path) -> None:
    manifest = folders(tmp_path / "docs")
    text = manifest.read_text()
    manifest.write_text(text + "  - path: public/canteen.md\n    audience: [legal-team]\n")
    refused = cli(["ingest", "--manifest", str(manifest)], env)
    assert refused.returncode == 2
    assert f"{manifest}:7: unknown audience legal-team; known groups:" in refused.stderr
    both = cli(["ingest", "--manifest", str(manifest), "samples/policies", "--audience", "hr"], env)
    assert both.returncode == 2 and "drop PATHS, --audience" in both.stderr
    listed = cli(["docs", "list", "--json"], env)
    assert listed.returncode == 0 and json_lines(listed.stdout) == []
