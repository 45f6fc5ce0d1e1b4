"""The topic words of questions and sentences: lower-cased, stemmed, function words left out."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nltk.stem.porter import PorterStemmer

# Words that carry no topic: articles, pronouns, auxiliaries, prepositions, question words.
# Content words ("long", "much", "many") are not here: the question's opening phrase
# ("how long") is removed before the words are taken, because its shape is scored apart.
_FUNCTION_WORDS = frozenset(
    """a an the and or but nor if then than so as of at by for from in into on onto to with within
    without about above after before below between through during under over up down out off
    is are am was were be been being do does did doing have has had having can could may might
    must shall should will would i me my mine we us our ours you your yours he him his she her
    hers it its they them their theirs this that these those there here what which who whom
    whose when where why how please any some all each every no not only own same such too very
    just also i'm i've i'd it's there's what's don't does doesn't can't""".split()
)
_QUESTION_PHRASE = re.compile(
    r"\bhow (?:long|much|many|often|soon|frequently)\b|\bwhat (?:is|are) the (?:number|amount) of\b"
)
WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _porter_stemmer() -> PorterStemmer:
    """nltk's Porter stemmer, without running nltk's package `__init__`.

    That `__init__` imports most of nltk and scipy.stats (over a second on 2 cores) though the
    stemmer needs four small modules. Empty stand-ins for the packages `nltk` and `nltk.stem`
    let those modules load alone; then the stand-ins and those modules are taken out of
    `sys.modules` again, so a later `import nltk` (LlamaIndex's sentence splitter) loads the
    real, whole package as if this had not happened.
    """
    if "nltk" in sys.modules:  # the real package is already loaded
        from nltk.stem.porter import PorterStemmer

        return PorterStemmer()
    spec = importlib.util.find_spec("nltk")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("nltk is not installed", name="nltk")
    roots = list(spec.submodule_search_locations)
    for name, path in {"nltk": roots, "nltk.stem": [f"{root}/stem" for root in roots]}.items():
        package = types.ModuleType(name)
        package.__path__ = path
        sys.modules[name] = package
    try:
        porter = importlib.import_module("nltk.stem.porter")
    finally:
        for name in [m for m in sys.modules if m == "nltk" or m.startswith("nltk.")]:
            del sys.modules[name]
    stemmer: PorterStemmer = porter.PorterStemmer()
    return stemmer


_stemmer = _porter_stemmer()


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    return _stemmer.stem(word)


def content_terms(text: str) -> list[str]:
    """Stemmed topic words of a text, in order."""
    return [
        _stem(w)
        for w in WORD.findall(text.lower())
        if w not in _FUNCTION_WORDS and (len(w) > 1 or w.isdigit())
    ]


def question_terms(question: str) -> set[str]:
    return set(content_terms(_QUESTION_PHRASE.sub(" ", question.lower())))
