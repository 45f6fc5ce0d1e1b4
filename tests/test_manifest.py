"""The ingest manifest: paths relative to it, audiences per entry, every mistake named."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.access import AccessPolicy
from knowledge.manifest import ManifestError, load_manifest
from tests.conftest import POLICY_QA, REPO

ACCESS = AccessPolicy(groups={"everyone": ["*"], "hr": ["C0HR"], "finance": ["C0FIN"]})


def tree(root: Path) -> Path:
    for name, text in {
        "docs/public/a.md": "# A\ntext\n",
        "docs/public/notes.csv": "x,y\n",
        "docs/hr/b.md": "# B\ntext\n",
        "docs/hr/sub/c.txt": "C\n\ntext\n",
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def write(root: Path, text: str) -> Path:
    path = root / "conf" / "manifest.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_entries_resolve_relative_to_the_manifest_with_their_audiences(tmp_path: Path) -> None:
    manifest = write(
        tree(tmp_path),
        "documents:\n"
        "  - path: ../docs/public\n    audience: everyone\n"
        "  - path: ../docs/hr/**/*\n    audience: [hr, finance]\n"
        "  - path: ../missing/*/*.pdf\n    audience: hr\n",
    )
    plan = load_manifest(manifest, ACCESS)
    found = {job.path.relative_to(tmp_path).as_posix(): job.defaults.audience for job in plan.jobs}
    assert found == {
        "docs/public/a.md": ("everyone",),  # a folder walk keeps supported types only
        "docs/hr/b.md": ("hr", "finance"),
        "docs/hr/sub/c.txt": ("hr", "finance"),
    }
    [note] = plan.skipped
    assert note.startswith(f"{manifest}:6: no supported file in ../missing/*/*.pdf")


def test_the_shipped_manifest_gives_each_policy_qa_folder_its_group() -> None:
    from bot.settings import load_settings

    access = load_settings(REPO / "config" / "sample.yaml").file.access
    plan = load_manifest(REPO / "samples" / "manifest.yaml", access)
    by_name = {job.path.name: job.defaults.audience for job in plan.jobs}
    assert by_name["expenses.md"] == ("everyone",)
    pdfs = sorted(POLICY_QA.glob("*/*.pdf"))
    if not pdfs:
        pytest.skip("../shared/data/policy-qa is not on this machine")
    assert len(plan.jobs) == len(list((REPO / "samples" / "policies").iterdir())) + len(pdfs)
    for pdf in pdfs:  # the rule the Makefile used: the folder name's first word, lowercased
        assert by_name[pdf.name] == (pdf.parent.name.split("_")[0].lower(),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("documents: [\n", "not valid YAML"),
        ("", ":1: documents: Field required"),
        ("documents: []\n", "documents: List should have at least 1 item"),
        ("documents:\n  - path: ../docs\n    audiences: [hr]\n", ":3: documents.0.audiences: unknown key"),
        (
            "documents:\n  - path: ../docs\n    audience: []\n",
            "documents.0.audience: List should have at least 1",
        ),
        ("documents:\n  - audience: hr\n", ":2: documents.0.path: Field required"),
        (
            "documents:\n  - path: ../docs\n    audience: [hr, legal]\n",
            ":3: unknown audience legal; known groups: everyone, finance, hr",
        ),
        ("documents:\n  - path: ../nowhere\n    audience: hr\n", ":2: ../nowhere: no such file or directory"),
        (
            "documents:\n  - path: ../docs\n    audience: everyone\n  - path: ../docs/hr/b.md\n    audience: hr\n",
            "already listed by entry 1 for everyone; a file has one audience",
        ),
    ],
)
def test_a_bad_manifest_is_refused_with_its_line(tmp_path: Path, text: str, message: str) -> None:
    manifest = write(tree(tmp_path), text)
    with pytest.raises(ManifestError) as error:
        load_manifest(manifest, ACCESS)
    assert message in str(error.value)
    assert str(manifest) in str(error.value)


def test_a_file_listed_twice_for_the_same_audience_is_ingested_once(tmp_path: Path) -> None:
    manifest = write(
        tree(tmp_path),
        "documents:\n  - path: ../docs/hr\n    audience: hr\n  - path: ../docs/hr/b.md\n    audience: [hr]\n",
    )
    assert [job.path.name for job in load_manifest(manifest, ACCESS).jobs] == ["b.md", "c.txt"]


def test_an_unreadable_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"cannot read manifest .*nope\.yaml"):
        load_manifest(tmp_path / "nope.yaml", ACCESS)
