"""The everyday commands load only what they use (issue 18): `--help`, an argument error and
`docs list` import none of LlamaIndex, nltk, the Anthropic SDK, RAGAS or the embedding model;
`ask` without a Claude key loads neither the Anthropic SDK, LangChain, scipy nor matplotlib,
and of nltk only its Porter stemmer; `serve` starts without matplotlib.

Each command runs as a user runs it (`app.py` as `__main__` in a fresh interpreter); an
exit hook writes the top-level packages that were imported, whatever way the command ended.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_runner import json_lines
from tests.conftest import REPO

HEAVY = {"llama_index", "nltk", "anthropic", "ragas", "fastembed", "onnxruntime"}
# Nor does anything that only parses arguments need Weaviate's client or the database.
NOT_FOR_ARGUMENTS = HEAVY | {"weaviate", "sqlalchemy", "alembic"}

_RUN_APP = """
import atexit, json, runpy, sys
out, argv = sys.argv[1], sys.argv[2:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["app.py", *argv]
runpy.run_path("app.py", run_name="__main__")
"""


def run_app(
    args: list[str], env: dict[str, str] | None, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `app.py ARGS`; the result and the top-level packages it imported."""
    done, modules = run_app_modules(args, env, tmp_path)
    return done, {m.split(".")[0] for m in modules}


def run_app_modules(
    args: list[str], env: dict[str, str] | None, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `app.py ARGS`; the result and every module it imported."""
    modules = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN_APP, str(modules), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, set(json.loads(modules.read_text()))


def imported_by(code: str) -> set[str]:
    """Every module a fresh interpreter has imported after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=300, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_help_loads_no_heavy_library(tmp_path: Path) -> None:
    done, imported = run_app(["--help"], None, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "docs" in done.stdout and "notify-changes" in done.stdout
    assert "adapters" in imported  # the probe sees the app's own imports
    assert not imported & NOT_FOR_ARGUMENTS, sorted(imported & NOT_FOR_ARGUMENTS)


@pytest.mark.parametrize(
    "args",
    [
        ["ask"],  # argparse: --channel is required
        ["ask", "--channel", "C1"],  # ours: no question and no --questions
        ["export-finetune", "--format", "nope", "--out", "x"],
        ["digest", "--force"],
    ],
)
def test_argument_errors_load_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    done, imported = run_app(args, None, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip()
    assert not imported & NOT_FOR_ARGUMENTS, sorted(imported & NOT_FOR_ARGUMENTS)


@pytest.mark.weaviate
def test_docs_list_loads_no_heavy_library(samples_env: dict[str, str], tmp_path: Path) -> None:
    done, imported = run_app(
        ["--config", samples_env["CFG"], "docs", "list", "--json"], samples_env, tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert {"parental-leave", "remote-work"} <= {d["doc_id"] for d in json_lines(done.stdout)}
    assert "weaviate" in imported
    assert not imported & HEAVY, sorted(imported & HEAVY)


@pytest.mark.weaviate
def test_docs_list_still_refuses_a_collection_built_by_another_model(
    samples_env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other-model.yaml"
    other.write_text(Path(samples_env["CFG"]).read_text() + "embedding:\n  model_name: someone/other-model\n")
    done, imported = run_app(["--config", str(other), "docs", "list"], samples_env, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "embed=someone/other-model" in done.stderr and "python app.py reindex" in done.stderr
    assert not imported & HEAVY, sorted(imported & HEAVY)


# What `ask` answering with the extractive answerer never needs: Claude's SDK, LangChain (which
# LlamaIndex imports when installed, only to ask whether the model is a LangChain one),
# scipy (nltk's package __init__ pulls it in) and the digest's charts.
NOT_FOR_ASK = {"anthropic", "langchain", "langchain_core", "langsmith", "scipy", "matplotlib"}


@pytest.mark.weaviate
def test_ask_loads_only_what_answering_uses(samples_env: dict[str, str], tmp_path: Path) -> None:
    question = "How long must my password be?"
    done, modules = run_app_modules(
        ["--config", samples_env["CFG"], "ask", "--channel", "C0CONSOLE", question], samples_env, tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "14 characters" in done.stdout  # it did answer, stemming the question's words
    top_level = {m.split(".")[0] for m in modules}
    assert {"llama_index", "fastembed", "weaviate"} <= top_level
    assert not top_level & NOT_FOR_ASK, sorted(top_level & NOT_FOR_ASK)
    assert "bot.answering.terms" in modules  # the stemmer was loaded, leaving no nltk module behind
    assert not {m for m in modules if m.split(".")[0] == "nltk"}


def test_the_stemmer_is_nltks_porter_and_nltk_still_imports_whole() -> None:
    words = "passwords expiring generously relational conditional hopefulness agreed ponies"
    modules = imported_by(
        "from bot.answering import terms\n"
        f"ours = terms.content_terms({words!r})\n"
        "import nltk\n"
        "porter = nltk.stem.porter.PorterStemmer()  # the real package, submodules bound as usual\n"
        f"assert ours == [porter.stem(w) for w in {words!r}.split()], ours\n"
        "assert ours[:3] == ['password', 'expir', 'gener'], ours\n"
        "assert nltk.word_tokenize and nltk.stem.SnowballStemmer"
    )
    assert "nltk.collocations" in modules  # nltk's own __init__ ran when nltk was imported


def test_serve_starts_without_the_digest_charts() -> None:
    modules = imported_by("import adapters.serve")
    assert "adapters.digests" in modules
    assert not {m for m in modules if m.split(".")[0] == "matplotlib"}
