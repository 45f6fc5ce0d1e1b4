"""What kind of answer a question asks for, and what kind of facts a sentence carries.

"How long", "how much", "how many", "how often", "when" and "who" each ask for a fact of
a shape: a duration or a length, an amount of money, a count, a frequency, a date or a
time, a person or a role. A sentence that carries a fact of that shape is a better answer
than one that merely shares the question's words. Yes/no questions and the rest ask for
no particular shape.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Wants(StrEnum):
    DURATION = "duration"  # how long (also a length: "how long must a password be")
    AMOUNT = "amount"  # how much, rates, costs, limits in money
    COUNT = "count"  # how many
    FREQUENCY = "frequency"  # how often
    TIME = "time"  # when, by when, what date, how soon
    PERSON = "person"  # who, which department
    FIGURE = "figure"  # the minimum / maximum / limit / rate of something: some number
    YESNO = "yesno"
    OTHER = "other"


_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand half"
).split()
_NUM = rf"(?:\d+(?:[.,]\d+)*|{'|'.join(_NUMBER_WORDS)}|a|an|one-and-a-half)"
_NUMBER = re.compile(rf"\b(?:\d+(?:[.,]\d+)*|{'|'.join(_NUMBER_WORDS)})\b", re.IGNORECASE)
_UNIT_TIME = r"(?:minutes?|mins?|hours?|hrs?|days?|working days?|calendar days?|weeks?|months?|years?|yrs?)"
_DURATION = re.compile(rf"\b{_NUM}[\s-]+(?:\w+[\s-]+)?{_UNIT_TIME}\b", re.IGNORECASE)
_LENGTH = re.compile(
    rf"\b{_NUM}[\s-]+(?:characters?|chars?|digits?|letters?|km|kilometres?|kilometers?|miles?|pages?)\b",
    re.IGNORECASE,
)
_MONEY = re.compile(
    r"(?:[$€£¥]\s?\d|\b\d+(?:[.,]\d+)*\s?(?:eur|euros?|usd|gbp|sgd|aud|dollars?|cents?|pounds?|%|percent)\b"
    r"|\b(?:eur|usd|gbp|sgd|aud|s\$)\s?\d)",
    re.IGNORECASE,
)
_FREQUENCY = re.compile(
    r"\b(?:every|once|twice|annually|monthly|weekly|daily|yearly|quarterly|per (?:year|month|week|day|annum)"
    r"|a (?:year|month|week|day))\b",
    re.IGNORECASE,
)
_MONTHS = "january february march april may june july august september october november december"
_DATE = re.compile(
    rf"\b(?:(?:{'|'.join(_MONTHS.split())})\b|\d{{1,2}}[/-]\d{{1,2}}[/-]\d{{2,4}}|(?:19|20)\d\d\b"
    r"|\d{1,2}[:.]\d\d\b|\d{1,2}\s?(?:am|pm)\b|noon|midnight|monday|tuesday|wednesday|thursday|friday"
    r"|before|after|within|prior to|no later than|by the end of|deadline)",
    re.IGNORECASE,
)
_ROLE = re.compile(
    r"\b(?:manager|director|head|officer|hr|human resources|department|committee|supervisor|board|chief|"
    r"secretary|administrator|team|employer|helpdesk|help desk|owner|custodian|auditor|ceo|cfo|cio|ciso|"
    r"president|chair|council|unit|authority|controller|accountant|treasurer|minister|ministry)\b",
    re.IGNORECASE,
)
_YESNO_OPENERS = frozenset(
    "is are am can could do does did may might must should shall will would has have had was were".split()
)


def wants(question: str) -> Wants:
    """The shape of fact the question asks for (English questions; anything else is OTHER)."""
    q = " ".join(question.lower().split())
    if re.search(r"\bhow (?:long|soon)\b|\bwhat is the (?:duration|length|period)\b", q):
        return Wants.DURATION
    if re.search(r"\bhow often\b|\bhow frequently\b", q):
        return Wants.FREQUENCY
    if re.search(r"\bhow many\b|\bwhat (?:is the )?number of\b", q):
        return Wants.COUNT
    if re.search(
        r"\bhow much\b|\bwhat (?:is|are) the (?:\w+ )?(?:rate|cost|price|fee|allowance|amount|budget)s?\b", q
    ):
        return Wants.AMOUNT
    if re.search(r"\b(?:when|what date|what time|by when|which date|which day|deadline)\b", q):
        return Wants.TIME
    if re.search(r"\b(?:who|whom|whose)\b|\bwhich (?:department|team|person|role|officer|manager|body)\b", q):
        return Wants.PERSON
    if re.search(
        r"\b(?:minimum|maximum|min|max|limit|at least|at most|up to|percentage|threshold|rate|hours|salary|"
        r"workload|length|duration|period|age|size|quota)\b",
        q,
    ):
        return Wants.FIGURE
    first = re.findall(r"[a-z']+", q)[:1]
    if first and first[0] in _YESNO_OPENERS:
        return Wants.YESNO
    return Wants.OTHER


def fits(wanted: Wants, sentence: str) -> bool:
    """Does the sentence carry a fact of the wanted shape? (YESNO and OTHER: any sentence fits.)"""
    if wanted is Wants.DURATION:
        return bool(_DURATION.search(sentence) or _LENGTH.search(sentence))
    if wanted is Wants.AMOUNT:
        return bool(_MONEY.search(sentence))
    if wanted is Wants.COUNT:
        return bool(_NUMBER.search(sentence))
    if wanted is Wants.FREQUENCY:
        return bool(_FREQUENCY.search(sentence) or _DURATION.search(sentence))
    if wanted is Wants.TIME:
        return bool(_DATE.search(sentence) or _DURATION.search(sentence))
    if wanted is Wants.PERSON:
        return bool(_ROLE.search(sentence))
    if wanted is Wants.FIGURE:
        return bool(_NUMBER.search(sentence))
    return True


def asks_for_figure(wanted: Wants) -> bool:
    return wanted in {Wants.DURATION, Wants.AMOUNT, Wants.COUNT, Wants.FREQUENCY, Wants.FIGURE}


_WORD_VALUES = {w: i for i, w in enumerate(_NUMBER_WORDS[:20], 1)} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}


def figures(sentence: str) -> frozenset[str]:
    """The numbers a sentence states, normalised ("1,500" = "1500", "eight" = "8"); years and
    clause numbers ("4.2" at the start) are left out: they are not the figure in question."""
    found = set()
    body = re.sub(r"^\s*\d+(?:\.\d+)+\.?\s+", "", sentence)
    for match in _NUMBER.finditer(body):
        token = match.group(0).lower()
        if token in _WORD_VALUES:
            found.add(str(_WORD_VALUES[token]))
            continue
        if not token[0].isdigit():
            continue
        value = (
            token.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", token) else token.replace(",", ".")
        )
        if re.fullmatch(r"(?:19|20)\d\d", value):
            continue
        found.add(value.rstrip("0").rstrip(".") if "." in value else value)
    return frozenset(found)
