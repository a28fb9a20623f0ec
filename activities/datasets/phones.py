"""Phone numbers in running text, in time linear in the text whatever its digits.

`phonenumbers`' matcher (Google's libphonenumber port) finds candidates with a bounded
regex, then parses each (~90 us) and our rule checks validity (~110 us: a country code such
as +1 spans 25 regions). Texts full of ids like `Q1234567` thus cost ~250 us per id, and
its time-stamp check copies the rest of the text per candidate, which is quadratic.

`count_phones` keeps the matcher and changes two things, without changing what it finds:

- A candidate that `_looks_like_phone` cannot accept is dropped before parsing. It needs
  ten digits, a plus, or an exit code to be counted as "formatted", so with fewer it
  counts only if valid, and a valid number's national part (a run of its digits) matches
  one of the region's number patterns for its length. `ShortNumbers` holds those patterns.
- The time-stamp check reads past the candidate with `match(text, pos)`, not a copy.

A dropped candidate uses up one of the matcher's tries, as a failed one does.
Written against phonenumbers 9.0.43 (pinned in pyproject.toml); tests check the internals
used here (`_extract_match`, `_parse_and_verify`, `_extract_inner_match`, the patterns).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers import phonenumbermatcher as _matcher
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

# Number types `is_valid_number` accepts (all but UNKNOWN).
_TYPES = (
    "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
    "voip", "pager", "uan", "voicemail",
)  # fmt: skip
_FORMATTED_DIGITS = 10
_PLUS = frozenset("+\uff0b")
# Characters that make the library read an extension or a second number: no shortcut.
_EXTENSION_CHARS = frozenset("#;,")


def count_phones(text: str, region: str = "US") -> int:
    return sum(1 for match in QuickPhoneMatcher(text, region) if looks_like_phone(match))


def looks_like_phone(match: phonenumbers.PhoneNumberMatch) -> bool:
    """A valid number, or a full-length one written the way phone numbers are written.

    The second case catches numbers in unassigned ranges such as the US 555 exchange: a
    `pii_removed` claim cannot tell them from real ones. A bare run of digits must be valid,
    so answers like 1234567 in maths data do not count.
    """
    if phonenumbers.is_valid_number(match.number):
        return True
    raw = match.raw_string
    national = str(match.number.national_number)
    formatted = raw.startswith("+") or any(c in raw for c in " -.()")
    return formatted and len(national) >= _FORMATTED_DIGITS


@dataclass(frozen=True)
class ShortNumbers:
    """What a region's numbers with fewer than ten digits can look like."""

    exit_code: re.Pattern[str] | None
    patterns: dict[int, tuple[re.Pattern[str], ...]]  # national length -> patterns

    def could_count(self, candidate: str) -> bool:
        """False only when no match inside `candidate` can pass `looks_like_phone`."""
        digits: list[str] = []
        for char in candidate:
            if char.isdecimal():
                digits.append(str(unicodedata.decimal(char)))
            elif char in _PLUS or char in _EXTENSION_CHARS or char.isalpha():
                return True
        run = "".join(digits)
        if len(run) >= _FORMATTED_DIGITS:
            return True
        if self.exit_code is not None and self.exit_code.match(run):
            return True
        for length, patterns in self.patterns.items():
            for start in range(len(run) - length + 1):
                part = run[start : start + length]
                if any(p.fullmatch(part) for p in patterns):
                    return True
        return False


@lru_cache(maxsize=16)
def short_numbers(region: str) -> ShortNumbers | None:
    """None where the shortcut is unsafe: an unknown region, or one whose parser rewrites
    national prefixes (AG, GG, ...: then a national number need not be a run of the written
    digits). Patterns come from every region sharing the country code, since a number
    parsed for one (US) may be valid in another (CA)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.national_prefix_transform_rule:
        return None
    country_code = metadata.country_code
    codes = (
        COUNTRY_CODE_TO_REGION_CODE.get(country_code, (region,))
        if country_code is not None
        else (region,)
    )
    patterns: dict[int, list[re.Pattern[str]]] = {}
    for md in map(PhoneMetadata.metadata_for_region, codes):
        for name in _TYPES:
            desc = getattr(md, name, None)
            if desc is None or not desc.national_number_pattern:
                continue
            lengths = desc.possible_length or tuple(range(1, _FORMATTED_DIGITS))
            for length in lengths:
                if 0 < length < _FORMATTED_DIGITS:
                    patterns.setdefault(length, []).append(re.compile(desc.national_number_pattern))
    exit_code = re.compile(metadata.international_prefix) if metadata.international_prefix else None
    return ShortNumbers(exit_code, {n: tuple(p) for n, p in sorted(patterns.items())})


class QuickPhoneMatcher(phonenumbers.PhoneNumberMatcher):  # type: ignore[misc]
    """The library's matcher at POSSIBLE leniency, with the two changes described above."""

    def __init__(self, text: str, region: str) -> None:
        super().__init__(text, region, leniency=phonenumbers.Leniency.POSSIBLE)
        self._short = short_numbers(region)

    def _extract_match(self, candidate: str, offset: int) -> Any:
        if self._short is not None and not self._short.could_count(candidate):
            return None
        # Upstream from here on, but the suffix check reads the text in place.
        if _matcher._SLASH_SEPARATED_DATES.search(candidate):
            return None
        if _matcher._TIME_STAMPS.search(candidate) and _matcher._TIME_STAMPS_SUFFIX.match(
            self.text, offset + len(candidate)
        ):
            return None
        match = self._parse_and_verify(candidate, offset)
        if match is not None:
            return match
        return self._extract_inner_match(candidate, offset)
