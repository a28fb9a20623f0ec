"""Which built-in suites a harness config selects, checked once for the API and the
evaluation activity alike (pure: no I/O beyond reading the packaged suite files)."""

from __future__ import annotations

from core.evaluation import SuiteCategory
from core.evaluation_suites import list_builtin_suites, load_builtin_suite


class SuiteSelectionError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def builtin_selection(pedagogy: list[str], safety: list[str]) -> list[tuple[str, SuiteCategory]]:
    """The selected suites in order; an unknown or miscategorised name names its field."""
    known = set(list_builtin_suites())
    selected: list[tuple[str, SuiteCategory]] = []
    for field, names, category in (
        ("pedagogy_tests", pedagogy, SuiteCategory.pedagogy),
        ("safety_tests", safety, SuiteCategory.safety),
    ):
        for index, name in enumerate(names):
            where = f"harness_config.{field}[{index}]"
            if name not in known:
                raise SuiteSelectionError(
                    "unknown_suite",
                    f"{where}: unknown suite '{name}' (known: {', '.join(sorted(known))})",
                )
            actual = load_builtin_suite(name).category
            if actual != category:
                raise SuiteSelectionError(
                    "wrong_suite_category", f"{where}: '{name}' is a {actual} suite"
                )
            selected.append((name, category))
    return selected
