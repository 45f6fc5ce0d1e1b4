"""Reading a YAML file a person wrote (the settings file, an ingest manifest) and pointing
at the line of each mistake pydantic finds in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


def read_yaml(path: Path, what: str, error: Callable[[str], Exception]) -> tuple[Any, yaml.Node | None]:
    """The parsed data and its node tree (for line numbers); `error(message)` is raised when
    the file cannot be read or is not YAML. `what` names the file in the message."""
    try:
        text = path.read_text()
    except OSError as err:
        raise error(f"cannot read {what} {path}: {err.strerror or err}") from err
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as err:
        raise error(f"{path}: not valid YAML: {err}") from err


def validation_problems(path: Path, root: yaml.Node | None, err: ValidationError) -> list[str]:
    """One line per mistake: `FILE:LINE: dotted.key: message`."""
    problems = []
    for issue in err.errors():
        loc = tuple(issue["loc"])
        where = ".".join(str(p) for p in loc) or "(top level)"
        message = "unknown key" if issue["type"] == "extra_forbidden" else issue["msg"]
        problems.append(f"{path}:{line_of(root, loc)}: {where}: {message}")
    return problems


def line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """The 1-based line of the YAML node at `loc`, or of its nearest existing parent."""
    node, line = root, (root.start_mark.line + 1 if root is not None else 1)
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == key), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line
