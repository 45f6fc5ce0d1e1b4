"""Numbers that identify: IBANs and cards (by their check digits), IP addresses, phone numbers."""

from __future__ import annotations

import ipaddress
import re

from eval.finetune.scrub._marks import _S, Sub

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
