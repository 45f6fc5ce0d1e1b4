"""Chat markup and ids, emails, UUIDs, random-looking strings, labelled employee ids."""

from __future__ import annotations

import re

from eval.finetune.scrub._marks import _CHANNEL, _SENTINEL_RANGE, _USER

_SLACK_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>\n]*)?>")
_SLACK_CHANNEL = re.compile(r"<#[CGD][A-Z0-9]+(?:\|[^>\n]*)?>")
_SLACK_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|[^>\n]*)?>")
_SLACK_BROADCAST = re.compile(r"<!(here|channel|everyone)(?:\|[^>\n]*)?>")
_TEAMS_AT = re.compile(rf"<at\b[^>\n]*>[^<{_SENTINEL_RANGE}]*</at>", re.IGNORECASE)
_TEAMS_USER = re.compile(r"(?<![\w:])(?:29:[A-Za-z0-9_-]{16,}|8:[a-z]+:[A-Za-z0-9._-]{8,})")
_TEAMS_CONVERSATION = re.compile(
    r"(?<![\w:])(?:19:[A-Za-z0-9_-]+@thread\.(?:tacv2|skype|v2)|a:[A-Za-z0-9_-]{20,})"
)
_GUID = r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
_LABELLED_OBJECT_ID = re.compile(
    r"(?i:\b(?:aad_?object_?id|object[ _-]?id|oid|user[ _-]?id|entra[ _-]?id|azure[ _-]?ad[ _-]?id)\b)"
    rf"([\"']?\s*[:=]?\s*[\"']?\s*){{?{_GUID}}}?(?![\w-])"
)

# -- 11-15: emails, ids, random strings -------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,24}(?![A-Za-z0-9-])"
)
_UUID = re.compile(rf"(?<![\w-]){_GUID}(?![\w-])")
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/_=-])")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HASH_CONTEXT = re.compile(
    r"(?i)\b(?:commit|commits|sha|sha-?\d+|checksum|hash|hashes|digest|md5|fingerprint|revision|rev)\b"
)
_SLACK_ID = re.compile(r"(?<![\w-])([UWCGD])(\d[A-Z0-9]{7,10})(?![\w-])")
_EMPLOYEE_ID = re.compile(
    r"(?<!\w)((?i:(?:employee|staff|personnel|payroll|badge|emp)[ _-]?"
    r"(?:id|no\.?|nr\.?|number|num|#))(?:\s+is)?\s*[:#=]?\s*)"
    r"((?i:[a-z]{0,3})-?\d{3,10})(?![\w-])"
)


def _class_changes(text: str) -> int:
    """How often consecutive characters switch between digit, upper and lower case
    (separators start afresh): high for random strings, low for words and slugs."""
    changes = 0
    previous = ""
    for c in text:
        kind = "d" if c.isdigit() else "u" if c.isupper() else "l" if c.islower() else ""
        if kind and previous and kind != previous:
            changes += 1
        previous = kind
    return changes


def _looks_random(token: str, before: str) -> bool:
    core = token.rstrip("=")
    if len(core) < 32:
        return False
    has_digit = any(c.isdigit() for c in core)
    if _HEX.fullmatch(core):
        if not has_digit or not any(c.isalpha() for c in core):
            return False
        return _HASH_CONTEXT.search(before[-48:]) is None
    if not has_digit:
        return False
    return _class_changes(core) >= 0.2 * len(core)


def _slack_id(m: re.Match[str]) -> str:
    tail = m.group(2)
    digits = sum(c.isdigit() for c in tail)
    if digits < 2 or digits == len(tail):
        return m.group()
    return _USER if m.group(1) in "UW" else _CHANNEL
