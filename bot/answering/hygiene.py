"""What is searched for: the question without greetings, introductions, sign-offs or contact details.

"Hi, I'm Jane Doe (jane.doe@acme.com, +44 7700 900123). How many days can I work from
abroad?" searches like "How many days can I work from abroad?": a name, an address and a
phone number only pull in passages that mention names and phones, and take the place of
the words that matter. The interaction log keeps what was asked; this is what retrieval
and the answerers see.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)
_PHONE = re.compile(r"(?:\b(?:phone|tel|mobile|cell|ext)\.?:?\s*)?\+?\(?\d[\d\s().-]{6,}\d", re.IGNORECASE)
_EMPTY_BRACKETS = re.compile(r"\(\s*(?:[,;/]|\band\b|\s)*\)|\[\s*\]")
_GREETING = re.compile(
    r"^\s*(?:hi|hello|hey|hiya|howdy|dear|greetings|good (?:morning|afternoon|evening)|morning|afternoon)"
    r"(?:\s+(?:there|all|everyone|team|folks|guys|bot|support|hr|it|@?\w+bot|<@\w+>|@\w+))?\s*[,!.:;-]*\s*",
    re.IGNORECASE,
)
# "I'm Jane Doe", "I am Jane from Finance", "My name is Jane Doe", "This is Jane (HR)"
_INTRODUCTION = re.compile(
    r"^\s*(?:[Ii]'?m|[Ii] am|[Mm]y name is|[Mm]y name's|[Tt]his is|[Ii]t's)\s+(?:[A-Z][\w'’-]+)(?:\s+[A-Z][\w'’-]+){0,3}(?![\w'’-])"
    r"(?:\s*\([^)]*\))?(?:\s*(?:from|in|of|at|with)\s+(?:the\s+)?[\w &'’-]{1,40}?(?:team|department|dept|office|group))?"
    r"\s*(?:[,.;:!]+|\s+[-–—]+\s*|$)",
)
_SIGN_OFF = re.compile(
    r"(?:[,.!]?\s*(?:thanks|thank you|thx|many thanks|cheers|best|regards|best regards|kind regards|"
    r"br|ta)(?:\s+(?:a lot|so much|in advance))?[,.!]*(?:\s+[A-Z][\w'’-]+){0,2}[.!]*\s*)$",
    re.IGNORECASE,
)
_LEAD_IN = re.compile(r"^(?:quick question|a question|question)\s*[:,-]\s*", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def searchable_question(text: str) -> str:
    """The question as retrieval should see it; the text unchanged when nothing is to be removed
    (or when removing would leave nothing)."""
    cleaned = _URL.sub(" ", _EMAIL.sub(" ", text))
    cleaned = _PHONE.sub(" ", cleaned)
    cleaned = _EMPTY_BRACKETS.sub(" ", cleaned)
    cleaned = " ".join(cleaned.split())
    kept: list[str] = []
    for piece in _SENTENCE.split(cleaned):
        sentence = _GREETING.sub("", piece, count=1) if not kept else piece
        while True:  # "Hi, I'm Jane - quick one: ..." peels off one layer at a time
            stripped = _INTRODUCTION.sub("", sentence, count=1)
            stripped = _GREETING.sub("", stripped, count=1) if not kept else stripped
            if stripped == sentence:
                break
            sentence = stripped
        sentence = _LEAD_IN.sub("", sentence)
        if sentence.strip(" ,.;:!-"):
            kept.append(sentence.strip())
    cleaned = " ".join(kept)
    while (trimmed := _SIGN_OFF.sub("", cleaned).strip()) != cleaned and trimmed:
        cleaned = trimmed
    cleaned = cleaned.strip(" ,;:-")
    if not re.search(r"[A-Za-z]{2}", cleaned):
        return " ".join(text.split())
    return cleaned
