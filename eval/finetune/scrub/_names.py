"""Names: the askers' names the caller knows, and names people introduce themselves with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from eval.finetune.scrub._marks import _NAME

# Ordinary English words that are names too ("Grant", "Holiday", "Rose"), from a data file
# curated apart. Alone, a part of a given name on this list is scrubbed only where the text
# shows it is a name (see `_NameIndex`), and a self-introduced name on it is not looked for
# elsewhere in the text; inside a self-introduction it counts ("I'm Will Grant from IT").
_NAMELIKE_WORDS = frozenset(
    word
    for line in Path(__file__).with_name("namelike_words.txt").read_text(encoding="utf-8").splitlines()
    for word in line.partition("#")[0].split()
)
# Months that are names too: English capitalises them anyway, so a capital says nothing
# ("in May"), and they are never scrubbed alone. (The other months are in _NOT_NAME_WORDS.)
_CAPITALISED_ANYWAY = frozenset({"april", "may", "june", "august"})

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
# What may follow a self-introduced name: a preposition, punctuation, contact details in
# brackets ("I'm Jane Doe (jane@...)"), or a dash before the rest ("I'm Jane Doe - HR asked").
_NAME_CUE = re.compile(r"\s+(?:from|in|at|with|on|and|here|of)\b|\s*[,.!;:()?]|\s+[-–—]\s|\s*$")
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


# What can stand between the start of a line and its first word: a bullet, a list number,
# a heading or quote mark, opening quotes and brackets, emphasis.
_LINE_OPENING = re.compile(r"[ \t]*(?:(?:[-*•>#]+|\d{1,3}[.)])[ \t]+)?[\"'“‘(\[*_ \t]*")
_SENTENCE_END = ".!?:…"
_OPENERS = " \t\"'“‘([*_"
_LAST_WORD = re.compile(r"[^\W\d_][\w'’]*\Z")
# A neighbouring word: across spaces and at most one line break, since extracted PDF
# text breaks lines inside headings ("Funeral Grant \nof $500", "Page\n1").
_GAP = r"(?=\s)[ \t\r]*\n?[ \t]*"
_WORD_AFTER = re.compile(rf"{_GAP}(\d|[^\W\d_][\w'’]*)")
_WORD_BEFORE = re.compile(rf"([^\W\d_][\w'’]*){_GAP}\Z")
# Joined to its neighbour into one token: "Long-term", "Holiday-pay", ".../Page/...".
_GLUE = "-‐/\\_"
_HONORIFICS = frozenset({"mr", "mrs", "ms", "mx", "miss", "dr", "prof", "sir", "dame"})
# Words that open sentences around names: greetings, sign-offs, verbs of contact and
# function words. Capitalised at a sentence start they make no title with the next word
# ("Hi Grant", "Ask Grant", "Can Grant approve?"), and on the next line they start a new
# thought ("ask Grant\nThanks"), unlike the first word of a title ("Governing Law").
_SENTENCE_OPENERS = frozenset(
    """
    hi hello hey dear thanks thank cheers regards please sorry ok okay welcome congrats
    congratulations morning afternoon evening ask tell call email mail ping message
    contact cc bcc meet a an the and but or so if when where what who why how which can
    could would should will may might do does did is are was were has have had we you he
    she they it this that these those my our your their also just then yes no
    """.split()
)


def _starts_sentence(text: str, start: int) -> bool:
    """Whether text[start:] begins a line (after any bullet, number, heading mark or
    opening quote) or a sentence (after . ! ? : …); "Mr. Page" begins none."""
    # Only the 64 characters before are looked at: a long line full of names stays linear.
    window = max(0, start - 64)
    line_start = text.rfind("\n", window, start) + 1 or (0 if window == 0 else -1)
    if line_start >= 0 and _LINE_OPENING.fullmatch(text, line_start, start):
        return True
    before = text[max(line_start, window) : start].rstrip(_OPENERS)
    if not before or before[-1] not in _SENTENCE_END:
        return False
    word = _LAST_WORD.search(before[:-1])
    return word is None or word.group().lower() not in _HONORIFICS


@dataclass(frozen=True)
class _NameIndex:
    """The given names. A full name (all its parts, or the first and last) matches in any
    case, and so does a single-word name that is no English word (a handle like "priya").
    Alone, a part of a name matches only when capitalised: "Priya" anywhere, but an
    ordinary word ("Grant", "Holiday") only where the capital is the text's own doing,
    so not at the start of a sentence or line ("Holiday entitlement is..."), not joined
    to a word by a hyphen ("Long-term"), not in a run of capitalised words ("the Holiday
    Pay Policy", "Annual Holiday") and not before a number ("Page 3"): "ask Grant about
    it" is scrubbed."""

    pattern: re.Pattern[str] | None
    any_case: frozenset[str]
    capitalised: frozenset[str]
    ordinary: frozenset[str]

    @classmethod
    def build(cls, names: Iterable[str]) -> _NameIndex:
        any_case: set[str] = set()
        capitalised: set[str] = set()
        ordinary: set[str] = set()
        for raw in names:
            name = " ".join(raw.split()).lower()
            parts = name.split(" ")
            if len(parts) > 1:
                any_case.update((name, f"{parts[0]} {parts[-1]}"))
                singles = parts
            else:
                singles = []
                part = _usable_part(name)
                (ordinary if part in _NAMELIKE_WORDS else any_case).add(part)
            for part in map(_usable_part, singles):
                (ordinary if part in _NAMELIKE_WORDS else capitalised).add(part)
        for tier in (any_case, capitalised, ordinary):
            tier.discard("")
        capitalised -= any_case
        ordinary -= any_case | capitalised
        words = any_case | capitalised | ordinary
        if not words:
            return cls(None, frozenset(), frozenset(), frozenset())
        pattern = re.compile(rf"(?<!\w)(?:{_trie_regex(words)})(?!\w)", re.IGNORECASE)
        return cls(pattern, frozenset(any_case), frozenset(capitalised), frozenset(ordinary))

    def sub(self, text: str) -> str:
        if self.pattern is None:
            return text
        return self.pattern.sub(self._replace, text)

    def _replace(self, m: re.Match[str]) -> str:
        found = m.group()
        key = " ".join(found.split()).lower()
        if key in self.any_case:
            return _NAME
        if not found[0].isupper():
            return found
        if key in self.capitalised:
            return _NAME
        if key in self.ordinary and self._named_here(m.string, m.start(), m.end()):
            return _NAME
        return found

    def _named_here(self, text: str, start: int, end: int) -> bool:
        """Whether a capitalised ordinary word at text[start:end] is a name (see the class)."""
        if _starts_sentence(text, start):
            return False
        if (start > 0 and text[start - 1] in _GLUE) or (end < len(text) and text[end] in _GLUE):
            return False
        after = _WORD_AFTER.match(text, end)
        if after is not None and self._leads_on(after):
            return False
        before = _WORD_BEFORE.search(text[max(0, start - 64) : start])
        if before is None or not self._titled(before.group(1)):
            return True
        # A title ("Governing Law", "the Annual Holiday"), unless the word before is
        # capitalised only for starting the sentence ("Hi Grant").
        opener = before.group(1).lower() in _SENTENCE_OPENERS
        return opener and _starts_sentence(text, start - len(before.group()))

    def _leads_on(self, after: re.Match[str]) -> bool:
        """Whether the next word makes a title or a label of this one ("Holiday Pay", "Page
        3"): not across a line end when it opens a new thought ("ask Grant\nThanks")."""
        word = after.group(1)
        if "\n" in after.group() and word.lower() in _SENTENCE_OPENERS:
            return False
        return word.isdigit() or self._titled(word)

    def _titled(self, word: str) -> bool:
        """A capitalised word that is not part of a given name, an honorific or "I"."""
        lower = word.lower()
        return (
            word[0].isupper()
            and word != "I"
            and lower not in _HONORIFICS
            and lower not in self.capitalised
            and lower not in self.ordinary
        )


def _usable_part(part: str) -> str:
    """`part` if it can stand for a name alone: three characters or more, and not a
    function, date or policy word or a month."""
    part = part.strip(".,;:()\"'")
    if len(part) < 3 or part in _NOT_NAME_WORDS or part in _CAPITALISED_ANYWAY:
        return ""
    return part if any(c.isalpha() for c in part) else ""
