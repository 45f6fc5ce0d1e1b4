"""Scrub personal data and secrets from texts before they go into a training file.

The placeholders, the order of the rules and the decisions behind each (what counts as a
phone number, a card, a name...) are in RULES.md beside this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from eval.finetune.scrub._ids import (
    _EMAIL,
    _EMPLOYEE_ID,
    _LABELLED_OBJECT_ID,
    _LONG_RUN,
    _SLACK_BROADCAST,
    _SLACK_CHANNEL,
    _SLACK_ID,
    _SLACK_SUBTEAM,
    _SLACK_USER,
    _TEAMS_AT,
    _TEAMS_CONVERSATION,
    _TEAMS_USER,
    _UUID,
    _looks_random,
    _slack_id,
)
from eval.finetune.scrub._marks import (
    _BUILTIN_KINDS,
    _CHANNEL,
    _MAX_KINDS,
    _MAX_ROUNDS,
    _NAME,
    _NO_PATTERNS,
    _S,
    _SECRET,
    _SENTINEL_BASE,
    _SENTINEL_RE,
    _URL_TOKEN,
    _USER,
    Sub,
)
from eval.finetune.scrub._names import (
    _COMMON_WORDS,
    _SELF_INTRO,
    _SELF_INTRO_TRIGGER,
    _introduced_name,
    _NameIndex,
    _trie_regex,
)
from eval.finetune.scrub._numbers import (
    _CARD,
    _IBAN,
    _IPV4,
    _IPV6,
    _PHONE_EXT_ONLY,
    _PHONE_INTERNATIONAL,
    _PHONE_LABEL,
    _PHONE_NANP,
    _PHONE_NATIONAL,
    _card,
    _iban,
    _ipv4,
    _ipv6,
    _labelled_phone,
    _phone_checker,
)
from eval.finetune.scrub._secrets import (
    _AUTH_HEADER,
    _KEY_VALUE,
    _PEM,
    _TOKENS,
    _URL_CREDENTIALS,
    _URL_SECRET_PARAM,
    _WEBHOOK,
    _auth_header,
    _key_value,
)

# Recorded in each export's manifest. 2: parts of names that are ordinary words are
# scrubbed alone only where the text capitalises them as names.
SCRUBBER_VERSION = "2"


@dataclass(frozen=True)
class ScrubResult:
    """The scrubbed text and how many replacements of each kind were made (kinds with
    none are left out; placeholders that were already in the input are not counted)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Rule:
    """A pattern and its replacement, skipped unless one of `needles` occurs in the
    lower-cased text (and a digit, when `digits`, and `gate` matches, when given): plain
    substring tests are much cheaper than running every pattern over every text. The
    needles are looked up in the text as it was when the round began: replacements only
    remove text, so a needle that is gone cannot make a rule skip what it should see."""

    pattern: re.Pattern[str]
    replace: str | Sub
    needles: tuple[str, ...] = ()
    digits: bool = False
    gate: re.Pattern[str] | None = None

    def apply(self, text: str, lower: str, has_digit: bool) -> str:
        if self.digits and not has_digit:
            return text
        if self.needles and not any(needle in lower for needle in self.needles):
            return text
        if self.gate is not None and self.gate.search(text) is None:
            return text
        return self.pattern.sub(self.replace, text)


_HAS_DIGIT = re.compile(r"\d")
_SECRET_KEY_GATE = re.compile(
    r"(?i)(?:pass(?:word|wd|phrase|code)?|pwd|pin|secret|token|key|credentials?)[\"']?"
    r"(?:\s*[:=]|\s+(?:is|was|will|to|as)\s)"
)
_TOKEN_NEEDLES = (
    "xox", "xapp-", "sk-", "akia", "asia", "abia", "acca", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "glpat-", "aiza", "k_live_", "k_test_", "npm_", "eyj",
)  # fmt: skip
_PHONE_LABEL_NEEDLES = (
    "phone", "tel", "mob", "cell", "fax", "whatsapp", "landline", "call", "text", "ring", "dial",
    "sms", "reach", "contact", "number",
)  # fmt: skip
_IPV6_GATE = re.compile(r"::|(?:[0-9A-Fa-f]{1,4}:){7}")


def _long_run(m: re.Match[str]) -> str:
    before = m.string[max(0, m.start() - 48) : m.start()]
    return _SECRET if _looks_random(m.group(), before) else m.group()


def _builtin_rules_before_extras() -> list[_Rule]:
    return [
        _Rule(_PEM, _SECRET, ("-----begin",)),
        _Rule(_WEBHOOK, _SECRET, ("hooks.slack.com", "webhook.office.com", "discord")),
        _Rule(_URL_CREDENTIALS, lambda m: m.group(1) + _SECRET + "@", ("://",)),
        _Rule(_URL_SECRET_PARAM, lambda m: m.group(1) + _URL_TOKEN, ("=",)),
        _Rule(
            _TOKENS,
            _SECRET,
            _TOKEN_NEEDLES,
        ),
        _Rule(_AUTH_HEADER, _auth_header, ("bearer", "authorization")),
        _Rule(
            _KEY_VALUE,
            _key_value,
            ("pass", "pwd", "pin", "secret", "token", "key", "credential"),
            gate=_SECRET_KEY_GATE,
        ),
    ]


def _builtin_rules_after_extras() -> list[_Rule]:
    return [
        _Rule(_SLACK_USER, _USER, ("<@",)),
        _Rule(_SLACK_CHANNEL, _CHANNEL, ("<#",)),
        _Rule(_SLACK_SUBTEAM, _USER, ("<!subteam",)),
        _Rule(_SLACK_BROADCAST, lambda m: "@" + m.group(1), ("<!",)),
        _Rule(_TEAMS_AT, _USER, ("<at",)),
        _Rule(_TEAMS_USER, _USER, ("29:", "8:")),
        _Rule(_TEAMS_CONVERSATION, _CHANNEL, ("19:", "a:")),
        _Rule(
            _LABELLED_OBJECT_ID,
            lambda m: m.group()[: m.end(1) - m.start()] + _USER,
            ("id",),
            digits=True,
        ),
        _Rule(_EMAIL, _S["email"], ("@",)),
        _Rule(_UUID, _S["id"], ("-",), digits=True),
        _Rule(_LONG_RUN, _long_run),
        _Rule(_SLACK_ID, _slack_id, digits=True),
        _Rule(
            _EMPLOYEE_ID,
            lambda m: m.group(1) + _S["employee_id"],
            ("employee", "staff", "personnel", "payroll", "badge", "emp"),
            digits=True,
        ),
        _Rule(_IBAN, _iban, digits=True),
        _Rule(_CARD, _card, digits=True),
        _Rule(_IPV4, _ipv4, (".",), digits=True),
        _Rule(_IPV6, _ipv6, (":",), gate=_IPV6_GATE),
        _Rule(
            _PHONE_LABEL,
            _labelled_phone,
            _PHONE_LABEL_NEEDLES,
            digits=True,
        ),
        _Rule(_PHONE_INTERNATIONAL, _phone_checker(8, 15, skip_00=True), ("+", "00"), digits=True),
        _Rule(_PHONE_NANP, _phone_checker(10, 11), digits=True),
        _Rule(_PHONE_NATIONAL, _phone_checker(9, 12), ("0",)),
        _Rule(_PHONE_EXT_ONLY, _S["phone"], ("ext",), digits=True),
    ]


_KIND_NAME = re.compile(r"[a-z][a-z0-9_]*")


class Scrubber:
    """Replaces personal data and secrets with typed placeholders; see the module doc.

    `names`: display names of the people in the logs ("Alice Example"), scrubbed wherever
    they occur. `extra_patterns`: {kind: regex} for the caller's own identifiers; matches
    become [KIND] (or only the named group `value` does, when the regex has one).
    """

    def __init__(self, names: Iterable[str] = (), extra_patterns: Mapping[str, str] = _NO_PATTERNS) -> None:
        kinds = list(_BUILTIN_KINDS)
        extras: list[_Rule] = []
        for kind, regex in extra_patterns.items():
            if not _KIND_NAME.fullmatch(kind):
                raise ValueError(f"extra pattern kind {kind!r}: use lower-case letters, digits and _")
            if kind not in kinds:
                kinds.append(kind)
            extras.append(
                _Rule(re.compile(regex), _extra_replacement(chr(_SENTINEL_BASE + kinds.index(kind))))
            )
        if len(kinds) > _MAX_KINDS:
            raise ValueError(f"at most {_MAX_KINDS - len(_BUILTIN_KINDS)} extra pattern kinds")
        self._kinds = tuple(kinds)
        self._sentinels = tuple(chr(_SENTINEL_BASE + i) for i in range(len(kinds)))
        self._placeholders = {_SENTINEL_BASE + i: f"[{kind.upper()}]" for i, kind in enumerate(kinds)}
        placeholder_alternatives = "|".join(re.escape(kind.upper()) for kind in kinds)
        self._placeholder_re = re.compile(rf"\[({placeholder_alternatives})\]")
        self._sentinel_of = {f"[{kind.upper()}]": s for kind, s in zip(kinds, self._sentinels, strict=True)}
        self._rules = [*_builtin_rules_before_extras(), *extras, *_builtin_rules_after_extras()]
        self._names = _NameIndex.build(names)

    def scrub(self, text: str) -> ScrubResult:
        if _SENTINEL_RE.search(text):
            text = _SENTINEL_RE.sub("\ufffd", text)
        protected: dict[str, int] = {}
        if "[" in text:
            text = self._placeholder_re.sub(lambda m: self._sentinel_of[m.group()], text)
            protected = {s: text.count(s) for s in self._sentinels if s in text}
        # A replacement can make a boundary another rule needs ("Priya+44 20 7946 0958"
        # once "Priya" is gone), so run the rules again until nothing changes, which makes
        # scrub(scrub(x)) == scrub(x). Each round that changes the text turns at least one
        # more character into a placeholder, so this ends; texts with nothing to scrub
        # take one round, most others two.
        for _ in range(_MAX_ROUNDS):
            before = text
            lower = text.lower()
            has_digit = _HAS_DIGIT.search(text) is not None
            for rule in self._rules:
                text = rule.apply(text, lower, has_digit)
            text = self._scrub_names(text)
            if text == before:
                break
        counts: dict[str, int] = {}
        for kind, s in zip(self._kinds, self._sentinels, strict=True):
            n = text.count(s) - protected.get(s, 0)
            if n > 0:
                counts[kind] = n
        return ScrubResult(text.translate(self._placeholders), counts)

    def __call__(self, text: str) -> str:
        return self.scrub(text).text

    def _scrub_names(self, text: str) -> str:
        introduced: set[str] = set()
        if _SELF_INTRO_TRIGGER.search(text):

            def intro(m: re.Match[str]) -> str:
                tokens = _introduced_name(m)
                if not tokens:
                    return m.group()
                introduced.update(t for t in tokens if len(t) >= 3 and t.lower() not in _COMMON_WORDS)
                return m.group("intro") + _NAME + m.group("name")[len(" ".join(tokens)) :]

            text = _SELF_INTRO.sub(intro, text)
        text = self._names.sub(text)
        if introduced:
            again = re.compile(
                rf"(?<!\w)(?:{_trie_regex(t.lower() for t in introduced)})(?!\w)", re.IGNORECASE
            )
            text = again.sub(lambda m: _NAME if m.group()[0].isupper() else m.group(), text)
        return text


def _extra_replacement(sentinel: str) -> Sub:
    def replace(m: re.Match[str]) -> str:
        if not m.group():
            return ""
        if "value" in m.re.groupindex and m.group("value") is not None:
            start, end = m.span("value")
            if start == end:
                return m.group()
            whole = m.group()
            return whole[: start - m.start()] + sentinel + whole[end - m.start() :]
        return sentinel

    return replace
