"""Secrets: private keys, webhook and credential URLs, tokens, auth headers, key=value secrets."""

from __future__ import annotations

import itertools
import re

from eval.finetune.scrub._marks import _SECRET, _SENTINEL_RANGE

_PEM = re.compile(
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
    r"(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"  # whole block
    r"|(?:\s+[A-Za-z0-9+/=:,-]{16,})*)"  # or a block cut off: its base64 lines
)

_URL_TAIL = f"[^\\s<>|\"'`{_SENTINEL_RANGE}]+"
_WEBHOOK = re.compile(
    r"https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|[\w.-]+\.webhook\.office\.com/webhookb2/"
    r"|(?:[\w-]+\.)?discord(?:app)?\.com/api/webhooks/)" + _URL_TAIL,
    re.IGNORECASE,
)

_URL_CREDENTIALS = re.compile(
    rf"\b([a-z][a-z0-9+.-]*://)[^\s/@:<>|{_SENTINEL_RANGE}]+:[^\s/@<>|{_SENTINEL_RANGE}]+@",
    re.IGNORECASE,
)

_URL_SECRET_PARAM = re.compile(
    r"([?&#;](?:[a-z0-9]+[_.-])*"
    r"(?:token|sig|signature|key|apikey|secret|code|password|passwd|pwd|pass|auth"
    r"|session|sessionid|jwt|credential)=)"
    rf"[^&#\s\"'<>|{_SENTINEL_RANGE}]+",
    re.IGNORECASE,
)

_B64URL = r"[A-Za-z0-9_-]"
_TOKENS = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"xox[abposre](?:\.xox[abposre])?-[A-Za-z0-9-]{8,}"  # Slack bot/user/refresh tokens
    r"|xapp-[A-Za-z0-9-]{8,}"  # Slack app-level tokens
    rf"|sk-ant-{_B64URL}{{16,}}"  # Anthropic
    rf"|sk-(?=[A-Za-z0-9_-]*\d){_B64URL}{{20,}}"  # OpenAI-style
    r"|(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{20,}"
    rf"|glpat-{_B64URL}{{20,}}"  # GitLab
    rf"|AIza{_B64URL}{{35}}"  # Google API keys
    r"|[rsp]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|npm_[A-Za-z0-9]{36}"  # npm
    rf"|eyJ{_B64URL}{{8,}}\.{_B64URL}{{8,}}\.{_B64URL}*"  # JWT (signature may be empty)
    rf")(?!{_B64URL})"
)

_CREDENTIAL_CHARS = r"[A-Za-z0-9._~+/-]"
_AUTH_HEADER = re.compile(
    r"(?i:(\bauthorization\s*[:=]\s*(?:(?:basic|bearer|token|digest|negotiate)\s+)?)"
    r"|(\bbearer\s+))"
    rf"({_CREDENTIAL_CHARS}{{8,}}=*)"
)

# Keys that are secrets whatever the value; "prose" keys also occur in policy text
# ("Password: at least 14 characters"), so with ":" or "is" they need a token-like value.
_CODE_KEY = (
    r"(?:[A-Za-z0-9]+[_.-])+(?:pass(?:word|wd|phrase|code)?|pwd|pin|secret|token|key|credentials?)"
    r"|pwd|passwd|api[_-]?key|apikey|secret[_-]?key|access[_-]?key|private[_-]?key"
    r"|client[_-]?secret|(?:access|auth|refresh|id)[_-]?token"
)
_PROSE_KEY = r"pass(?:word|phrase|code)|pin|secret|token|credentials?"
_KEY_VALUE = re.compile(
    rf"(?<![A-Za-z0-9_.-])(?P<key>(?i:{_CODE_KEY}|{_PROSE_KEY}))(?![A-Za-z0-9_])"
    r"(?P<sep>[\"']?\s*(?P<op>[:=])\s*|\s+(?P<word>(?i:is now|is|was|will be|to|as))\s+)"
    r"(?:(?P<quote>[\"'])(?P<quoted>[^\"'\n" + _SENTINEL_RANGE + r"]+)(?P=quote)"
    r"|(?P<bare>[^\s\"'`,;<>|" + _SENTINEL_RANGE + r"]+))"
)
_PROSE_KEY_RE = re.compile(rf"(?i:{_PROSE_KEY})")
_TRAILING_PUNCT = ".,;:)"


def _tokenish(value: str) -> bool:
    """Whether a value looks like a password or token rather than a word of prose."""
    if any(c.isdigit() for c in value) or any(c in "=+/_-!@#$%^&*?~" for c in value):
        return True
    return any(a.islower() and b.isupper() for a, b in itertools.pairwise(value))


def _key_value(m: re.Match[str]) -> str:
    key, sep = m.group("key"), m.group("sep")
    quoted = m.group("quoted")
    if quoted is not None:
        if m.group("op") is None:  # 'password is "x"' reads as prose: only key=/key: quote
            return m.group()
        return f"{key}{sep}{m.group('quote')}{_SECRET}{m.group('quote')}"
    value = m.group("bare")
    stripped = value.rstrip(_TRAILING_PUNCT)
    trail = value[len(stripped) :]
    if not stripped:
        return m.group()
    prose = m.group("op") != "=" and (_PROSE_KEY_RE.fullmatch(key) is not None or m.group("word"))
    if prose and (len(stripped) < 4 or not _tokenish(stripped)):
        return m.group()
    return f"{key}{sep}{_SECRET}{trail}"


def _auth_header(m: re.Match[str]) -> str:
    token = m.group(3)
    if not _tokenish(token.rstrip("=.")) and not token.endswith("="):
        return m.group()
    if m.group(2) is not None and not any(c.isdigit() for c in token):
        return m.group()  # "bearer of the ..." / "Bearer authentication" in prose
    return (m.group(1) or m.group(2)) + _SECRET
