"""Scrub personal data and secrets from texts before they go into a training file.

The texts are staff questions from Slack and Teams, the bot's answers and the policy
passages it retrieved. Policy text is full of numbers the model must keep (amounts,
dates, deadlines, section numbers, versions), so every rule is written for precision
first: a number is only a phone number, a card or an IBAN when its structure (and, for
cards and IBANs, its check digits) says so.

Placeholders (the kind, lower-cased, is the key in `ScrubResult.counts`):

    [SECRET]       keys, tokens, passwords, private keys, webhook URLs, URL credentials,
                   long random-looking strings
    [URL_TOKEN]    the value of a secret-bearing URL query parameter (token=, sig=, key=,
                   code=, X-Amz-Signature=, ...); the parameter name is kept
    [EMAIL]        email addresses
    [USER]         Slack/Teams user mentions and ids, Slack user-group mentions, labelled
                   Entra (Azure AD) object ids
    [CHANNEL]      Slack channel mentions and ids, Teams conversation ids
    [ID]           any other UUID/GUID
    [EMPLOYEE_ID]  labelled employee numbers ("employee id 123456", "staff no. E12345")
    [IBAN]         IBANs with a valid length for their country and valid mod-97 check
    [CARD]         payment card numbers that pass the Luhn check
    [IP]           IPv4 and IPv6 addresses
    [PHONE]        phone numbers (with extensions) and labelled extensions ("ext. 4321")
    [NAME]         the names given to the Scrubber, and names people give themselves
                   ("my name is ...", "I'm ... from ...", "this is ...")

Callers can add their own kinds with `extra_patterns` ({"ticket": r"INC\\d{7}"} gives
[TICKET]; a built-in kind's name adds to that kind); a named group `value` limits the
replacement to that group ({"project": r"project (?P<value>[A-Z]{3}-\\d+)"}).

Order (each rule only sees what the rules before it left; replacements are held as
private-use characters until the end, so no rule can match inside a placeholder). Steps
2-20 run again while a round still changes the text: removing one thing can expose
another ("Priya+44 20 7946 0958" once "Priya" is gone), and this makes scrubbing
idempotent by construction. Texts with nothing to scrub take one round, most others two;
about 1 s per 10,000 texts of 500 characters of policy text on one core, about 3 s when
most of them hold personal data.

     1. placeholders already in the text are protected (scrubbing is idempotent)
     2. PEM private key blocks                     [SECRET]
     3. Slack / Office 365 / Discord webhook URLs  [SECRET]
     4. credentials in URLs (scheme://user:pass@)  [SECRET], scheme and host kept
     5. secret URL query parameters                [URL_TOKEN], name kept
     6. known token formats (Slack, Anthropic, OpenAI, AWS key ids, GitHub, GitLab,
        Google, Stripe, npm, JWT)                  [SECRET]
     7. Authorization headers and "Bearer <token>" [SECRET], scheme word kept
     8. key/value secrets (password=, pwd:, "password is ...", aws_secret_access_key=,
        DB_PASSWORD=, client_secret: ...)          [SECRET], key kept
     9. the caller's extra_patterns                [KIND]
    10. chat markup and ids: Slack <@U..>, <#C..>, <!subteam^..>; Teams <at>..</at>,
        29:.., 8:orgid:.., 19:..@thread.., a:..; labelled object ids   [USER]/[CHANNEL]
        (Slack <!here>, <!channel>, <!everyone> become plain @here, @channel, @everyone:
        broadcast markup, not personal data, not counted)
    11. email addresses                            [EMAIL]
    12. UUIDs                                      [ID]
    13. long random-looking strings                [SECRET]
    14. bare Slack user/channel ids                [USER]/[CHANNEL]
    15. labelled employee ids                      [EMPLOYEE_ID]
    16. IBANs                                      [IBAN]
    17. payment cards                              [CARD]
    18. IP addresses                               [IP]
    19. phone numbers                              [PHONE]
    20. names: self-introductions, then the given names (and the self-introduced names
        wherever else they occur in the same text)               [NAME]

Why this order: secrets first, because their values contain things later rules would
half-match (digits, "@", base64); PEM blocks first of all, since they span lines; URL
credentials before emails ("https://user:pass@host" is not an email); chat markup
before emails and names (Teams "19:..@thread.tacv2", "<at>Alice</at>"); UUIDs before
the random-string rule (a UUID is 36 characters of hex and dashes); IBANs and employee
ids before cards and phones (their digits would look like either); cards before phones
(a card grouped 4-4-4-4 has a phone-like shape); names last, so a name inside an email
address or a mention has already gone with it.

Decisions:

- UUIDs are all replaced by [ID]. In staff questions a UUID is a user, device, ticket,
  tenant or request id; it has no training value and may be an Entra object id, which is
  personal data. Labelled object ids (aadObjectId, objectId, oid, user id, entra id)
  become [USER].
- Teams: <at>..</at> mentions, user ids "29:..." (16+ characters) and "8:orgid:..."
  become [USER]; conversation ids "19:..@thread.tacv2|skype|v2" and "a:..." (20+) become
  [CHANNEL]. Bot ids ("28:...") are left alone: they identify no person.
- Slack: <@U..>/<@W..> and user-group mentions <!subteam^..> become [USER]; <#C..>
  [CHANNEL]. A bare id counts only as U/W/C/G/D, then a digit, then 7-10 more upper-case
  letters or digits with at least two digits and one letter ("U024BE7LH", "C024BE91L"),
  so "CONFIDENTIAL", "DEPARTMENT", "W8BEN" and "CCPART1V3" stay.
- Hex strings of 32 or more characters (API keys are often hex) are secrets unless the
  words just before them call them a commit, sha, hash, checksum, digest or
  fingerprint: those are kept, as are short (7-12 character) git hashes.
- Other strings of 32+ characters of [A-Za-z0-9+/_-] are secrets when they hold a digit
  and switch between digits, upper and lower case at least once every five characters
  (random base64 does ~every other character); slugs, file paths, long words and
  CamelCase without digits pass.
- Phone numbers need a phone structure: international (+CC or 00CC, 8-15 digits),
  North American ((415) 555-0132, 415-555-0132, 415.555.0132, 1-800-555-0199), national
  with a trunk 0 and one kind of separator (020 7946 0958, 06-12345678; 9-12 digits),
  French dotted pairs, or ten/eleven contiguous digits starting 0[1-9]. After a label
  (phone, tel, mobile, fax, whatsapp, call, text, dial, reach me, my number, ...) any
  7-15 digit run that is not a date counts. Dates, times, money, percentages, versions,
  section numbers, years and counts never match. Known costs: public numbers in policy
  text (a helpdesk line) are scrubbed as well, and so are 0-led codes grouped like a
  phone number ("0400-1234-5678").
- Cards: 13-19 digits, contiguous or grouped 4-4-4-4(-3) / 4-6-5, first digit 2-6 (the
  major networks), Luhn-valid. IBANs: a known country, its exact length, mod-97 valid.
- IPv4 addresses are kept when a clause word comes just before them ("section 4.2.1.3",
  "version 1.2.3.4") or when every part is below 30 and the first is not 10 or 127 (a
  clause number such as "4.2.1.4", or a public resolver such as 8.8.8.8; neither is
  personal data). IPv6 candidates must parse with the ipaddress module.
- Names: a given multi-word name is matched as a whole (and as first + last name),
  case-insensitively, across whitespace. Each part of 3+ characters is also matched
  alone, but only when capitalised in the text ("Alice", not "alice in wonderland"). A
  part that is also an ordinary English word ("Grant", "Holiday", "Rose", "Will", "Page";
  the list is the data file namelike_words.txt) needs more: the capital must be the
  text's own doing, so not at the start of a sentence or line, not joined by a hyphen or
  slash ("Long-term"), not in a run of capitalised words or before a number ("the Holiday
  Pay Policy", "Governing Law", "Page 3"). For an asker "Grant Holiday": "Grant Holiday
  asked" and "ask Grant about it" are scrubbed, "Holiday entitlement is 25 days" and
  "the grant was approved" are not. Known costs: a capitalised ordinary word mid-sentence
  is scrubbed ("the Bill of Rights" for a Bill), and an ordinary-word part alone at the
  start of a sentence stays ("Holiday said yes"). A given single-word name of 3+
  characters that is not an ordinary word is matched in any case (a handle like "priya");
  an ordinary one is treated like a part. Shorter words, function and policy words and
  months that are names ("May", "June") are never matched alone.
- Self-introductions ("my name is", "my name's", "I'm", "I am", "this is") take up to
  three capitalised words and stop at the first function, date or policy word, so "This
  is Data Protection Officer guidance", "I'm HR Business Partner" and "I'm Not sure"
  stay. After "I'm", "I am" and "this is" the name must be followed by a cue ("from",
  "in", "at", "here", a comma, full stop, the end). The names found are then also
  scrubbed (when capitalised) wherever else they occur in the same text. A capitalised
  product name in that spot ("this is Workday.") is a known false positive.
- Slack broadcast markup <!here>, <!channel>, <!everyone> is rewritten to plain
  "@here", "@channel", "@everyone" and not counted: it names nobody, and the plain form
  reads naturally in training text.
- Characters U+E000..U+E0FF in the input (never in chat or policy text) are replaced by
  U+FFFD: the scrubber uses them internally for placeholders.
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
