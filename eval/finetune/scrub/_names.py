"""Names: the askers' names the caller knows, and names people introduce themselves with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from eval.finetune.scrub._marks import _NAME

# Names that are ordinary words too: never scrubbed alone (only inside a full given
# name), and not looked for elsewhere after a self-introduction. They can be part of a
# self-introduced name ("I'm Will Grant from IT").
_NAMELIKE_WORDS = frozenset(
    """
    will may june april august mark bill grant rose lily iris hope faith joy grace dawn
    summer autumn winter spring amber ruby pearl jade crystal holly ivy daisy violet rich
    frank earl duke king prince bishop chase drew art pat sue rob max ray guy jack hunter
    mason cook baker white black green brown gray grey young long short hall wood woods
    field fields hill lane street park north south east west price bell love best little
    page case cash sharp strong ward ford house power major rice rivers stone banks bank
    church glass hart hunt marsh moss post pope reed sage sterling swift wells wise worth
    law lord judge miles norman sky storm sunny honey penny dollar euro day
    """.split()
)

# Words that are not names: function words, greetings, dates, states and the
# capitalised words of policy text. A self-introduction stops at the first of them
# ("This is Data Protection Officer guidance" introduces nobody).
_NOT_NAME_WORDS = frozenset(
    """
    a an the and or of in on at to for from with by as is it its this that these those
    i me my we our you your he him his she her they them their who what when where why how
    which not no yes all any each every some one two three hi hello hey dear thanks thank
    please sorry ok okay back here there just still also only sure glad happy well days
    monday tuesday wednesday thursday friday saturday sunday january february march
    september october november december christmas easter today tomorrow yesterday
    policy policies procedure procedures section article appendix annex schedule chapter
    part step note notes version draft final important urgent mandatory required optional
    confidential internal public restricted information security data protection officer
    business partner human resources manager management director team teams slack
    microsoft office support service services desk helpdesk finance legal travel expense
    expenses leave parental remote work working incident response code conduct handbook
    guide guidance guidelines standard standards company group board committee department
    employee employees staff people person user users admin administrator head chief lead
    everyone anyone someone nobody general question questions answer help issue problem
    request ticket account password laptop phone email new old starter intern contractor
    available away out off sick ill busy late early ready done trying going looking
    writing asking calling reaching contacting based responsible right wrong correct true
    false fine great good bad unable unsure confused stuck locked leaving joining
    currently full time
    """.split()
)
_COMMON_WORDS = _NAMELIKE_WORDS | _NOT_NAME_WORDS

_NAME_WORD = r"(?:Mc|Mac|O['’])?[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+(?:[-'’][A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ]+)*"
_NAME_SEQUENCE = rf"(?P<name>{_NAME_WORD}(?: {_NAME_WORD}){{0,2}})"
_NAME_CUE = re.compile(r"\s+(?:from|in|at|with|on|and|here|of)\b|\s*[,.!;:)?]|\s*$")
_SELF_INTRO = re.compile(
    r"\b(?P<intro>(?i:my\s+name\s+is|my\s+name['’]s|name['’]s|i['’]m|i\s+am|this\s+is)\s+)" + _NAME_SEQUENCE
)
_SELF_INTRO_TRIGGER = re.compile(r"(?i)name|i['’]m|i\s+am|this\s+is")


def _introduced_name(m: re.Match[str]) -> list[str]:
    """The name tokens of a self-introduction: up to the first word that is no name and,
    after "I'm", "I am" and "this is", only when the name ends where a cue follows
    ("from", "in", a comma, the end): "I'm Alice from HR", not "I'm Going to"."""
    tokens: list[str] = []
    for token in m.group("name").split(" "):
        if token.lower() in _NOT_NAME_WORDS:
            break
        tokens.append(token)
    if m.group("intro")[:2].lower() in {"my", "na"}:
        return tokens
    start = m.start("name")
    while tokens and not _NAME_CUE.match(m.string, start + len(" ".join(tokens))):
        tokens.pop()
    return tokens


_Trie = dict[str, "_Trie"]


def _trie_regex(words: Iterable[str]) -> str:
    """A regex matching any of `words` (lower-cased), built as a trie so that a few
    thousand names stay fast; a space in a word matches any run of whitespace."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: _Trie) -> str:
        branches = [
            (r"\s+" if ch == " " else re.escape(ch)) + build(child)
            for ch, child in sorted(node.items())
            if ch
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


@dataclass(frozen=True)
class _NameIndex:
    """The given names: full names and unambiguous single words match in any case,
    parts of names only when capitalised."""

    pattern: re.Pattern[str] | None
    any_case: frozenset[str]
    capitalised: frozenset[str]

    @classmethod
    def build(cls, names: Iterable[str]) -> _NameIndex:
        any_case: set[str] = set()
        capitalised: set[str] = set()
        for raw in names:
            name = " ".join(raw.split()).lower()
            parts = name.split(" ")
            if len(parts) > 1:
                any_case.add(name)
                capitalised.update(_usable_part(p) for p in parts)
            else:
                any_case.add(_usable_part(name))
        any_case.discard("")
        capitalised.discard("")
        words = any_case | capitalised
        if not words:
            return cls(None, frozenset(), frozenset())
        pattern = re.compile(rf"(?<!\w)(?:{_trie_regex(words)})(?!\w)", re.IGNORECASE)
        return cls(pattern, frozenset(any_case), frozenset(capitalised - any_case))

    def sub(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(self._replace, text)

    def _replace(self, m: re.Match[str]) -> str:
        found = m.group()
        key = " ".join(found.split()).lower()
        if key in self.any_case or (key in self.capitalised and found[0].isupper()):
            return _NAME
        return found


def _usable_part(part: str) -> str:
    part = part.strip(".,;:()\"'")
    if len(part) < 3 or part in _COMMON_WORDS or not any(c.isalpha() for c in part):
        return ""
    return part
