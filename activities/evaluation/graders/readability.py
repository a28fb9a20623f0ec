"""Reading level: Flesch-Kincaid grade of the output."""

from __future__ import annotations

import re

import textstat
from pyphen import Pyphen

from activities.evaluation.graders.base import GraderVerdict
from core.evaluation_suites import ReadingLevelSpec

# textstat's own syllable counter first looks words up in NLTK's cmudict, which it
# downloads at run time; workers have no such access, and a grade that depends on what
# happens to be installed is not reproducible. So syllables come from pyphen, textstat's
# fallback, and words and sentences from textstat itself.
_HYPHENATOR = Pyphen(lang="en_US")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _syllables(word: str) -> int:
    return len(_HYPHENATOR.positions(word)) + 1


def flesch_kincaid_grade(text: str) -> float | None:
    """0.39 * words/sentence + 11.8 * syllables/word - 15.59; None for text with no words."""
    words = _WORD.findall(text.lower())
    n_words = textstat.lexicon_count(text)
    n_sentences = max(1, textstat.sentence_count(text))
    if not words or not n_words:
        return None
    syllables_per_word = sum(_syllables(w) for w in words) / len(words)
    return 0.39 * (n_words / n_sentences) + 11.8 * syllables_per_word - 15.59


def grade_reading_level(spec: ReadingLevelSpec, output: str) -> GraderVerdict:
    grade = flesch_kincaid_grade(output)
    if grade is None:
        return GraderVerdict.ok("reading_level", False, "no words to measure")
    passed = grade <= spec.max_grade
    op = "<=" if passed else ">"
    return GraderVerdict.ok(
        "reading_level", passed, f"Flesch-Kincaid grade {grade:.1f} {op} {spec.max_grade:g}"
    )
