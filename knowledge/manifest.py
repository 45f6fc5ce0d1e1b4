"""The ingest manifest: which files go in, each with its audience, for one `ingest` run.

    documents:
      - path: policies                    # a file, a folder or a glob, relative to this file
        audience: everyone                # one access group, or a list
      - path: ../../shared/data/policy-qa/HR_*/*.pdf
        audience: [hr]

Everything is checked before anything is ingested: the YAML, the keys, that each audience
is a group of the settings, that each plain path exists and that no file is claimed by
two entries with different audiences. A glob that matches nothing is only reported
(optional sources, like a data set some machines lack).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from knowledge.loaders import SUPPORTED_SUFFIXES, DocumentDefaults, FileJob, iter_files
from knowledge.yaml_files import line_of, read_yaml, validation_problems

if TYPE_CHECKING:
    from knowledge.access import AccessPolicy


class ManifestError(ValueError):
    """The manifest cannot be used; the message names the file, the line and the fix."""


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(
        min_length=1,
        description="A file, a folder (walked for supported types) or a glob, relative to the manifest.",
    )
    audience: list[str] = Field(min_length=1, description="Access groups that may read these documents.")

    @field_validator("audience", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    documents: list[ManifestEntry] = Field(min_length=1, description="What to ingest, in order.")


@dataclass(frozen=True)
class ManifestPlan:
    """The files to ingest, and what was skipped (globs matching nothing), to report."""

    jobs: list[FileJob]
    skipped: list[str]


def load_manifest(path: Path, access: AccessPolicy) -> ManifestPlan:
    data, root = read_yaml(path, "manifest", ManifestError)
    try:
        manifest = Manifest.model_validate(data if data is not None else {})
    except ValidationError as err:
        problems = validation_problems(path, root, err)
        raise ManifestError("invalid manifest\n" + "\n".join(problems)) from None
    for n, entry in enumerate(manifest.documents):
        unknown = access.unknown_groups(entry.audience)
        if unknown:
            known = ", ".join(sorted(access.groups)) or "(none defined)"
            raise ManifestError(
                f"{path}:{line_of(root, ('documents', n, 'audience'))}: unknown audience "
                f"{', '.join(unknown)}; known groups: {known}"
            )
    return _resolve(path, root, manifest)


def _resolve(path: Path, root: yaml.Node | None, manifest: Manifest) -> ManifestPlan:
    base = path.parent
    jobs: list[FileJob] = []
    skipped: list[str] = []
    claimed: dict[Path, tuple[int, tuple[str, ...]]] = {}
    for n, entry in enumerate(manifest.documents):
        where = f"{path}:{line_of(root, ('documents', n, 'path'))}"
        audience = tuple(entry.audience)
        for file in _files(base, entry.path, where, skipped):
            first = claimed.get(file.resolve())
            if first is None:
                claimed[file.resolve()] = (n, audience)
                jobs.append(FileJob(file, DocumentDefaults(audience=audience)))
            elif first[1] != audience:
                raise ManifestError(
                    f"{where}: {file} is already listed by entry {first[0] + 1} for "
                    f"{', '.join(first[1])}; a file has one audience (list its groups in one entry)"
                )
    return ManifestPlan(jobs, skipped)


def _files(base: Path, pattern: str, where: str, skipped: list[str]) -> list[Path]:
    """The supported files an entry names, as paths relative to where the command runs."""
    full = os.path.normpath(base / pattern)
    if not glob.has_magic(pattern):
        if not os.path.exists(full):
            raise ManifestError(f"{where}: {pattern}: no such file or directory ({full})")
        items = list(iter_files([Path(full)]))
    else:
        matches = [Path(m) for m in sorted(glob.glob(full, recursive=True))]
        items = list(iter_files([m for m in matches if m.is_dir() or m.suffix.lower() in SUPPORTED_SUFFIXES]))
    files = [item for item in items if isinstance(item, Path)]
    if not files:
        skipped.append(f"{where}: no supported file in {pattern}; skipped")
    return files
