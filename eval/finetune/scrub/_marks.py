"""Placeholders: the kinds, and the private-use characters that stand for them while rules run."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType

_NO_PATTERNS: Mapping[str, str] = MappingProxyType({})

# -- placeholders held as private-use characters while rules run ----------------------

_BUILTIN_KINDS = (
    "secret",
    "url_token",
    "email",
    "user",
    "channel",
    "id",
    "employee_id",
    "iban",
    "card",
    "ip",
    "phone",
    "name",
)
_SENTINEL_BASE = 0xE000
_SENTINEL_RANGE = "\ue000-\ue0ff"
_SENTINEL_RE = re.compile(f"[{_SENTINEL_RANGE}]")
_MAX_KINDS = 256
_MAX_ROUNDS = 8


_S = {kind: chr(_SENTINEL_BASE + i) for i, kind in enumerate(_BUILTIN_KINDS)}
_SECRET = _S["secret"]
_URL_TOKEN = _S["url_token"]
_USER = _S["user"]
_CHANNEL = _S["channel"]
_NAME = _S["name"]

Sub = Callable[[re.Match[str]], str]
