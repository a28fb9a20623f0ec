"""PII scan of training text: counts per kind and line numbers, never the values.

Kinds: e-mail addresses (regex), phone numbers (`phonenumbers`' matcher, Google's
libphonenumber port, in a default region; see `phones.looks_like_phone`), US social security numbers
(dashed or spaced, without the never-issued 000/666/9xx areas, 00 groups and 0000
serials), payment card numbers (13-19 digits with an issuer prefix 2-6, passing Luhn).

Street addresses are not scanned. The maintained option, `usaddress`, is a CRF that parses a
string it is told is an address; it does not find addresses in running text and tags
ordinary sentences as one: "The answer is 42 because 6 times 7 is 42." comes back as a
"Street Address", which in tutoring data (full of numbers) would flag most files. A regex
for "number + street name + suffix" has the same problem with "page 12 Park Lane".

Speed: each text is checked with cheap tests first (`@` present; a run of 7+ digits), and
only texts that pass go through the regexes and the phone matcher. Linear in the text
whatever its digits: SSNs and cards are blanked in one join (not a copy of the text per
match), and `phones` skips the parse of digit groups that cannot be a phone number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from activities.datasets.phones import count_phones
from activities.datasets.report import Finding, error, warning

PiiKind = Literal["email", "phone", "ssn", "payment_card"]
PII_KINDS: tuple[PiiKind, ...] = ("email", "phone", "ssn", "payment_card")
PII_REMOVED = "pii_removed"

_LABELS: dict[PiiKind, str] = {
    "email": "e-mail address(es)",
    "phone": "phone number(s)",
    "ssn": "US social security number(s)",
    "payment_card": "payment card number(s)",
}

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
)
# Seven or more digits with at most separators between them: the shortest phone number.
_DIGIT_RUN = re.compile(r"\d(?:[ ().+-]{0,3}\d){6}")
_SSN = re.compile(r"(?<![\d-])(?!000|666|9\d\d)\d{3}([- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\d-])")
_CARD = re.compile(r"(?<![\d-])[2-6]\d(?:[ -]?\d){11,17}(?![\d-])")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum payment card numbers carry in their last digit."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def find_pii(text: str, region: str = "US") -> dict[PiiKind, int]:
    """Counts per kind in one text (kinds with no hit are absent)."""
    found: dict[PiiKind, int] = {}
    if "@" in text:
        emails = len(_EMAIL.findall(text))
        if emails:
            found["email"] = emails
    if _DIGIT_RUN.search(text) is None:
        return found
    # Blank out SSNs and cards so the phone matcher does not count their digits again.
    ssn_spans = [m.span() for m in _SSN.finditer(text)]
    masked = _blank_spans(text, ssn_spans)
    card_spans = [
        m.span()
        for m in _CARD.finditer(masked)
        if luhn_valid(digits := re.sub(r"\D", "", m.group())) and 13 <= len(digits) <= 19
    ]
    masked = _blank_spans(masked, card_spans)
    ssns, cards = len(ssn_spans), len(card_spans)
    phones = count_phones(masked, region)
    digit_kinds: tuple[tuple[PiiKind, int], ...] = (
        ("ssn", ssns),
        ("payment_card", cards),
        ("phone", phones),
    )
    for kind, count in digit_kinds:
        if count:
            found[kind] = count
    return found


def _blank_spans(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each (non-overlapping, ordered) span replaced by spaces, in one pass."""
    if not spans:
        return text
    pieces: list[str] = []
    done = 0
    for start, end in spans:
        pieces.append(text[done:start])
        pieces.append(" " * (end - start))
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


class PiiKindSummary(BaseModel):
    kind: PiiKind
    count: int = Field(ge=0, description="occurrences")
    examples: int = Field(ge=0, description="examples with at least one")
    lines: list[int] = Field(description="first lines with one")


class PiiSummary(BaseModel):
    """What the scan found. Holds counts and line numbers only, never matched text."""

    scanned_examples: int = Field(ge=0)
    examples_with_pii: int = Field(ge=0)
    kinds: list[PiiKindSummary]
    addresses_scanned: bool = False

    @property
    def total(self) -> int:
        return sum(k.count for k in self.kinds)

    def describe(self) -> str:
        parts = [f"{k.count} {_LABELS[k.kind]}" for k in self.kinds]
        lines = sorted({line for k in self.kinds for line in k.lines})
        shown = ", ".join(str(n) for n in lines)
        return f"{', '.join(parts)} in {self.examples_with_pii} example(s) (first lines: {shown})"


class PiiScanner:
    """Feed each example's texts with its line number; `finish()` gives the summary."""

    def __init__(self, *, region: str = "US", lines_kept: int = 10) -> None:
        self.region = region
        self.lines_kept = lines_kept
        self._scanned = 0
        self._with_pii = 0
        self._counts: dict[PiiKind, int] = {}
        self._examples: dict[PiiKind, int] = {}
        self._lines: dict[PiiKind, list[int]] = {}

    def scan(self, texts: Iterable[str], line_no: int) -> None:
        self._scanned += 1
        hits: dict[PiiKind, int] = {}
        for text in texts:
            # The shortest e-mail or phone number is 6-7 characters; roles and ids are shorter.
            if len(text) < 6:
                continue
            for kind, count in find_pii(text, self.region).items():
                hits[kind] = hits.get(kind, 0) + count
        if not hits:
            return
        self._with_pii += 1
        for kind, count in hits.items():
            self._counts[kind] = self._counts.get(kind, 0) + count
            self._examples[kind] = self._examples.get(kind, 0) + 1
            lines = self._lines.setdefault(kind, [])
            if len(lines) < self.lines_kept:
                lines.append(line_no)

    def finish(self) -> PiiSummary:
        return PiiSummary(
            scanned_examples=self._scanned,
            examples_with_pii=self._with_pii,
            kinds=[
                PiiKindSummary(
                    kind=kind,
                    count=self._counts[kind],
                    examples=self._examples[kind],
                    lines=sorted(self._lines[kind]),
                )
                for kind in PII_KINDS
                if kind in self._counts
            ],
        )


def check_pii_claim(summary: PiiSummary, datasheet: Mapping[str, Any] | None) -> list[Finding]:
    """PII found: an error when the datasheet says `redaction: pii_removed`, else a warning."""
    if not summary.kinds:
        return []
    redaction = datasheet.get("redaction") if isinstance(datasheet, Mapping) else None
    claimed = isinstance(redaction, str) and redaction.strip().lower() == PII_REMOVED
    if claimed:
        message = f"datasheet.redaction is {PII_REMOVED!r} but the data has {summary.describe()}"
        return [error("pii_found", message, field="redaction")]
    return [warning("pii_found", f"the data has {summary.describe()}", field="redaction")]
