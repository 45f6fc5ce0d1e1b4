"""The Teams app package: manifest.json (from the template here) and the two icons, zipped.

Teams admins upload this zip (Teams admin center -> Manage apps -> Upload, or a user's
"Upload a custom app"). The manifest's id and botId are the Azure bot's app id.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

HERE = Path(__file__).resolve().parent
ICONS = ("color.png", "outline.png")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)


class PackageError(ValueError):
    pass


@dataclass(frozen=True)
class PackageOptions:
    app_id: str
    domain: str  # where `serve` is reachable (validDomains)
    name: str = "Support Bot"
    version: str = "1.0.0"
    developer: str = "IT"
    website: str = ""  # default https://<domain>


def manifest(options: PackageOptions) -> dict[str, object]:
    problems = []
    if not _GUID.match(options.app_id):
        problems.append(f"the app id must be the Azure bot's GUID, not {options.app_id!r}")
    if not _VERSION.match(options.version):
        problems.append(f"the version must look like 1.0.0, not {options.version!r}")
    if not _DOMAIN.match(options.domain):
        problems.append(f"the domain must be a host name like bot.example.com, not {options.domain!r}")
    website = options.website or f"https://{options.domain}"
    if not website.startswith("https://"):
        problems.append(f"the website must be an https:// URL, not {website!r}")
    if not options.name.strip() or len(options.name) > 30:
        problems.append("the name must be 1 to 30 characters")
    if problems:
        raise PackageError("cannot build the Teams package: " + "; ".join(problems))
    values = {
        "app_id": options.app_id.lower(),
        "domain": options.domain.lower(),
        "name": options.name.strip(),
        "version": options.version,
        "developer": options.developer,
        "website": website,
    }
    template = json.loads((HERE / "manifest.template.json").read_text())
    filled: dict[str, object] = _fill(template, values)
    return filled


def _fill(node: Any, values: dict[str, str]) -> Any:
    """Placeholders are filled in string values of the parsed template, never in its text:
    a quote in a name cannot break the JSON, and keys such as `$schema` stay as they are."""
    if isinstance(node, str):
        return Template(node).substitute(values)
    if isinstance(node, list):
        return [_fill(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _fill(value, values) for key, value in node.items()}
    return node


def build_package(options: PackageOptions, out: Path) -> Path:
    data = manifest(options)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        # Teams wants the three files at the root of the zip, not in a folder.
        archive.writestr("manifest.json", json.dumps(data, indent=2) + "\n")
        for icon in ICONS:
            archive.write(HERE / icon, icon)
    tmp.replace(out)
    return out
