"""Make the int8 variant of the embedding model, once, from its fp32 files (no download).

Run by `make setup`; does nothing when the variant is already there. Commands also make
it on first use, so this only moves the few seconds it takes to install time.

    .venv/bin/python -m scripts.quantize_model [--config config/sample.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.settings import ConfigError, load_settings
from knowledge.embeddings import EmbeddingModelError
from knowledge.model_files import ensure_int8, int8_folder, model_file, split_variant


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, help="settings file (its embedding: section)")
    args = parser.parse_args()
    try:
        embedding = load_settings(args.config).knowledge.embedding
        name, _ = split_variant(embedding.model_name)
        target = int8_folder(embedding, name)
        if (target / model_file(name)).is_file():
            print(f"int8 embedding model present: {target}")
            return 0
        ensure_int8(embedding, name)
    except (ConfigError, EmbeddingModelError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"made the int8 embedding model: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
