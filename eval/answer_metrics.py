"""Answer correctness against a reference answer, with no judge: SQuAD token F1 and numbers recall.

Shared by `app.py eval` (eval.ragas_metrics) and `bench/answer_quality.py`, so both report the
same figure under the same name. Standard library only: cheap to import anywhere.

- Token F1 (SQuAD v1.1's `f1_score`): both texts lower-cased, punctuation and the articles
  a/an/the removed, split on whitespace; F1 of the shared tokens (as multisets). Citation
  markers like `[1]` are removed from the answer first. An abstention scores 0: the
  question had an answer.
- Numbers recall: the share of the distinct numbers in the reference that the answer also
  states. "1,500" = "1500", "60%" = "60", "0.50" = "0.5", "fourteen" = "14",
  "twenty-five" = "25". None when the reference states no number (the question is left out
  of the mean). The word "one" counts in answers but not in references, where it is mostly
  a pronoun ("one of the managers", "no one"): a reference's "one hour" is not a number to
  recall, but an answer saying "one hour" for a reference's "1 hour" recalls it.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_MARKERS = re.compile(r"\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)

# No "zero": in policies it is "zero-based budgeting" or "zero tolerance", not a quantity.
_UNITS = {
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_NUMBER_WORDS = {*_UNITS, *_TENS, *_SCALES}
# A digit run with optional thousands separators and decimals ("1,500.75"), or one word.
# Any other character ends a run of number words ("fifty, one of them" is not 51).
_TOKEN = re.compile(r"\d+(?:,\d{3})+(?:\.\d+)?(?!\d)|\d+(?:\.\d+)?|[a-z]+|[^\sa-z0-9]")


@dataclass(frozen=True)
class AnswerScores:
    token_f1: float
    numbers_recall: float | None  # None: the reference states no number


def strip_markers(text: str) -> str:
    """The answer as compared: no citation markers `[1]`, `[1, 2]`."""
    return _MARKERS.sub("", text)


def normalise_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, punctuation deleted (Unicode's too: ’ “ ”), no
    articles, single spaces. Deleted, not spaced, as SQuAD does: "1,500" -> "1500"."""
    text = "".join(
        ch
        for ch in text.lower()
        if ch not in _ASCII_PUNCTUATION and not unicodedata.category(ch).startswith("P")
    )
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _tokens(text: str) -> list[str]:
    return normalise_answer(strip_markers(text)).split()


def token_f1(answer: str, reference: str) -> float:
    """SQuAD token F1 of an answer against a reference (0 when either has no tokens)."""
    predicted, gold = _tokens(answer), _tokens(reference)
    common = Counter(predicted) & Counter(gold)
    shared = sum(common.values())
    if shared == 0:
        return 0.0
    precision, recall = shared / len(predicted), shared / len(gold)
    return 2 * precision * recall / (precision + recall)


def _canonical(digits: str) -> str:
    """ "1,500" -> "1500", "0.50" -> "0.5", "60.00" -> "60"."""
    try:
        value = Decimal(digits.replace(",", ""))
    except InvalidOperation:
        return digits
    text = format(value.normalize(), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def numbers_in(text: str, *, pronoun_one: bool = True) -> set[str]:
    """The numbers a text states, canonical. `pronoun_one=False` leaves a lone word "one" out
    (it is then read as a pronoun or determiner, not a quantity)."""
    found: set[str] = set()
    words: list[str] = []  # a run of number words: "twenty five", "two hundred and fifty"

    def close_words() -> None:
        if words:
            value = _words_value(words)
            if value is not None and (pronoun_one or words != ["one"]):
                found.add(str(value))
            words.clear()

    # "twenty-five" is one number, "15-20" two: a hyphen neither joins nor ends a run.
    for piece in _TOKEN.findall(strip_markers(text).lower().replace("-", " ")):
        if piece[0].isdigit():
            close_words()
            found.add(_canonical(piece))
        elif piece in _NUMBER_WORDS or (piece == "and" and words):  # "two hundred and fifty"
            words.append(piece)
        else:
            close_words()
    close_words()
    return found


def _words_value(words: list[str]) -> int | None:
    while words and words[-1] == "and":  # "two and" : the "and" belongs to the next phrase
        words = words[:-1]
    if not words or words[0] in _SCALES:  # "hundred" alone is not a figure
        return None
    total = current = 0
    for word in words:
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word in _SCALES:
            scale = _SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
    return total + current


def numbers_recall(answer: str, reference: str) -> float | None:
    """Share of the reference's distinct numbers the answer states; None when it states none."""
    wanted = numbers_in(reference, pronoun_one=False)
    if not wanted:
        return None
    return len(wanted & numbers_in(answer)) / len(wanted)


def score_answer(answer: str, reference: str, answered: bool) -> AnswerScores:
    """Both figures for one answer; an abstention (or failure) scores 0 on both, where they apply."""
    recall = numbers_recall(answer if answered else "", reference)
    if not answered:
        return AnswerScores(0.0, None if recall is None else 0.0)
    return AnswerScores(token_f1(answer, reference), recall)
