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
- Names: a given multi-word name is matched as a whole, case-insensitively, across
  whitespace; each part of 3+ characters that is not a common word ("Will", "May",
  "Grant", "Rose", "Green", "Baker") is also matched alone, but only when capitalised in
  the text ("Alice", not "alice in wonderland"). A given single-word name of 3+
  characters that is not a common word is matched in any case (a handle like "priya").
  Shorter or common single words are never matched alone.
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

import ipaddress
import itertools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

SCRUBBER_VERSION = "1"

_NO_PATTERNS: Mapping[str, str] = MappingProxyType({})

# -- placeholders held as private-use characters while rules run ----------------------

_BUILTIN_KINDS = (
    "secret",
    "url_token",
    "email",
    "user",
    "channel",
    "id",
    "employee_id",
    "iban",
    "card",
    "ip",
    "phone",
    "name",
)
_SENTINEL_BASE = 0xE000
_SENTINEL_RANGE = "\ue000-\ue0ff"
_SENTINEL_RE = re.compile(f"[{_SENTINEL_RANGE}]")
_MAX_KINDS = 256
_MAX_ROUNDS = 8


_S = {kind: chr(_SENTINEL_BASE + i) for i, kind in enumerate(_BUILTIN_KINDS)}
_SECRET = _S["secret"]
_URL_TOKEN = _S["url_token"]
_USER = _S["user"]
_CHANNEL = _S["channel"]
_NAME = _S["name"]

Sub = Callable[[re.Match[str]], str]

# -- 2-8: secrets -----------------------------------------------------------------------

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


# -- 10: chat markup and ids ------------------------------------------------------------

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


# -- 16-18: IBANs, cards, IPs -----------------------------------------------------------

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,}")


def _iban_valid(compact: str) -> bool:
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _iban(m: re.Match[str]) -> str:
    """The match runs over every following group; cut it at the country's length, and
    look again after the IBAN (or after the first group, when this is none)."""
    text = m.group()
    expected = _IBAN_LENGTHS.get(text[:2], 0)
    seen = 0
    for i, c in enumerate(text):
        seen += c != " "
        if seen == expected:
            end = i + 1
            boundary = text[end] == " " if end < len(text) else not m.string[m.end() : m.end() + 1].isalnum()
            if boundary and _iban_valid(text[:end].replace(" ", "")):
                return _S["iban"] + _IBAN.sub(_iban, text[end:])
            break
    cut = text.find(" ")
    return text if cut < 0 else text[:cut] + _IBAN.sub(_iban, text[cut:])


_CARD = re.compile(
    r"(?<![\w.,+-])(?:\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?"
    r"|\d{4}([ -])\d{6}\2\d{4,5})"
    r"(?!\w|[.,-]\d)"
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(m: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", m.group())
    if 13 <= len(digits) <= 19 and digits[0] in "23456" and _luhn(digits):
        return _S["card"]
    return m.group()


_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = re.compile(rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}|:)?(?::[0-9A-Fa-f]{0,4}){1,7}(?![\w:])")
_NUMBERED_CONTEXT = re.compile(
    r"(?i)(?:\b(?:sections?|clauses?|articles?|para(?:graph)?s?|chapters?|appendix|annex"
    r"|versions?|releases?|builds?|ver|rules?|steps?|items?|tables?|figures?|fig|parts?|no)"
    r"|§)\.?\s*$"
)


_SMALL_OCTET = 30


def _ipv4(m: re.Match[str]) -> str:
    before = m.string[max(0, m.start() - 24) : m.start()]
    if _NUMBERED_CONTEXT.search(before):
        return m.group()
    octets = [int(part) for part in m.group().split(".")]
    if max(octets) < _SMALL_OCTET and octets[0] not in {10, 127}:
        return m.group()  # "4.2.1.3": a clause number, or public resolvers like 8.8.8.8
    return _S["ip"]


def _ipv6(m: re.Match[str]) -> str:
    candidate = m.group()
    if candidate.count(":") < 2 or not any(c.isalnum() for c in candidate):
        return candidate
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return candidate
    return _S["ip"]


# -- 19: phone numbers ------------------------------------------------------------------

_EXT = r"(?:\s*,?\s*(?i:ext\.?|extension|x)\s*\d{1,6}(?!\d))?"
_PHONE_START = r"(?<![\w.,/+-])"
_PHONE_END = r"(?!\w|[.,/-]\d)"
_PHONE_LABEL = re.compile(
    r"(?i:\b(?:phone|tel|telephone|mobile|mob|cell|cellphone|fax|whatsapp|landline"
    r"|call(?:\s+me)?|text(?:\s+me)?|ring(?:\s+me)?|dial|sms|reach\s+me|contact\s+me|my\s+number)\b\.?(?:\s*(?:no\.?|nr\.?|number|#))?"
    r"\s*(?:is|on|at|:|-)?\s*)"
    rf"(\+?\(?\d+(?:(?:\)\s?|\s?-\s?|[ .])\(?\d+){{0,7}}{_EXT}){_PHONE_END}"
)
_PHONE_INTERNATIONAL = re.compile(
    rf"{_PHONE_START}(?:\+|00)[1-9]\d{{0,3}}(?:[ .-]?\(\d{{1,5}}\))?[ .-]?\d{{1,12}}(?:[ .-]\d{{1,8}}){{0,5}}"
    rf"{_EXT}{_PHONE_END}"
)
_PHONE_NANP = re.compile(
    rf"{_PHONE_START}(?:1[ .-])?"
    r"(?:\([2-9]\d{2}\) ?[2-9]\d{2}[ .-]\d{4}|[2-9]\d{2}([.-])[2-9]\d{2}\1\d{4}|[2-9]\d{2} [2-9]\d{2}-\d{4})"
    rf"{_EXT}{_PHONE_END}"
)
_PHONE_NATIONAL = re.compile(
    rf"{_PHONE_START}(?:\(0\d{{1,4}}\) ?\d{{2,8}}(?:[ -]\d{{2,8}}){{0,4}}"
    r"|0\d{1,4}([ -])\d{2,8}(?:\1\d{2,8}){0,4}"
    r"|0[1-9](?:\.\d{2}){4}"
    r"|0[1-9]\d{8,9})"
    rf"{_EXT}{_PHONE_END}"
)
_PHONE_EXT_ONLY = re.compile(r"(?<![\w.])(?i:ext\.?)\s?\d{3,6}(?![\w]|[.,]\d)")
_DATE_LIKE = re.compile(r"(?<!\d)(?:\d{4}([-./])\d{1,2}\1\d{1,2}|\d{1,2}([-./])\d{1,2}\2\d{4})(?!\d)")
_TIME_RANGE = re.compile(r"(?<!\d)\d{1,2}[.:][0-5]\d\s*-\s*\d{1,2}[.:][0-5]\d(?!\d)")
_EXT_SPLIT = re.compile(r"(?i)\s*,?\s*(?:ext\.?|extension|x)\s*\d{1,6}$")


def _digit_count(s: str) -> int:
    return sum(c.isdigit() for c in s)


def _not_a_phone(number: str) -> bool:
    return _DATE_LIKE.search(number) is not None or _TIME_RANGE.search(number) is not None


_DIGIT_RUN_END = re.compile(r"\d(?!\d)")


def _phone_end(candidate: str, low: int, high: int, skip_00: bool = False) -> int:
    """The length of the longest prefix of `candidate` that is a phone number (the whole,
    or up to the end of one of its digit groups): 0 when none is. A greedy match may have
    run on into a following number ("+44 20 7946 0958 415.555.0132")."""
    ends = [len(candidate), *[m.end() for m in _DIGIT_RUN_END.finditer(candidate)][::-1]]
    for end in ends:
        number = _EXT_SPLIT.sub("", candidate[:end])
        digits = _digit_count(number) - (2 if skip_00 and number.startswith("00") else 0)
        if digits < low:
            return 0
        if digits <= high and not _not_a_phone(number):
            return end
    return 0


def _phone_checker(low: int, high: int, *, skip_00: bool = False) -> Sub:
    def replace(m: re.Match[str]) -> str:
        text = m.group()
        end = _phone_end(text, low, high, skip_00)
        return _S["phone"] + text[end:] if end else text

    return replace


def _labelled_phone(m: re.Match[str]) -> str:
    number = m.group(1)
    end = _phone_end(number, 7, 15)
    if not end:
        return m.group()
    return m.group()[: m.start(1) - m.start()] + _S["phone"] + number[end:]


# -- 20: names --------------------------------------------------------------------------

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


# -- the scrubber -----------------------------------------------------------------------


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
