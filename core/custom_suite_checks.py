"""`harness_config.custom_tests`: a user's own suites, inline or fetched by URI, checked
without fetching anything (the API checks them at submit time, the activity again before it
runs them).

Each entry maps a suite name to either an inline suite body (`graders`, `samples`, ...) or
`{"uri": ..., "category"?, "description"?, "graders"?}` naming a file of samples:
- `.jsonl` / `.ndjson`: one sample per line;
- `.yaml` / `.yml` / `.json`: a suite body (mapping) or a list of samples.
The harness_config key names the suite; fields in the entry override the file's. Parsing a
fetched file is `activities.evaluation.custom_suites`; fetching is `suite_fetch`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.dataset_uri import check_uri_syntax
from core.evaluation import SuiteCategory
from core.evaluation_suites import (
    SUITE_NAME_PATTERN,
    Suite,
    SuiteError,
    list_builtin_suites,
    suite_from_dict,
)

DocumentFormat = Literal["jsonl", "yaml", "json"]
_FORMATS: dict[str, DocumentFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".json": "json",
}
_NAME = re.compile(SUITE_NAME_PATTERN)


class UriSuiteEntry(BaseModel):
    """A custom suite whose samples live in a file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field(min_length=1, max_length=4096)
    # Known before the file is read, so the plan can place the suite in its category.
    category: SuiteCategory = SuiteCategory.custom
    description: str | None = Field(default=None, max_length=4000)
    graders: list[dict[str, Any]] | None = None


def is_uri_entry(body: object) -> bool:
    return isinstance(body, Mapping) and "uri" in body


def document_format(uri: str) -> DocumentFormat:
    suffix = PurePosixPath(urlsplit(uri).path or uri).suffix.lower()
    found = _FORMATS.get(suffix)
    if found is None:
        raise SuiteError(
            f"uri must name a .jsonl, .ndjson, .yaml, .yml or .json file (got '{suffix or 'none'}')"
        )
    return found


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise SuiteError(f"name must match {SUITE_NAME_PATTERN}")
    if name in list_builtin_suites():
        raise SuiteError(f"name: {name!r} is a built-in suite; choose another name")


def parse_uri_entry(name: str, body: Mapping[str, Any]) -> UriSuiteEntry:
    """Check an entry without fetching it: name, fields, URI syntax and file type."""
    _check_name(name)
    try:
        entry = UriSuiteEntry.model_validate(dict(body))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<entry>'}: {e['msg']}"
            for e in exc.errors(include_url=False)
        )
        raise SuiteError(problems) from None
    try:
        check_uri_syntax(entry.uri)
    except ValueError as exc:
        raise SuiteError(f"uri: {str(exc).replace('datasetUri', 'URI')}") from None
    document_format(entry.uri)
    return entry


def check_custom_tests(custom: Mapping[str, Any]) -> None:
    """Validate every entry up front (the API calls this); raises SuiteError naming the field
    relative to the entry."""
    for name, body in custom.items():
        if not isinstance(body, Mapping):
            raise SuiteError(f"{name}: must be an object (a suite, or {{'uri': ...}})")
        try:
            if is_uri_entry(body):
                parse_uri_entry(name, body)
            else:
                inline_suite(name, body)
        except ValueError as exc:
            raise SuiteError(f"{name}: {exc}") from None


def inline_suite(name: str, body: Mapping[str, Any]) -> Suite:
    # The harness_config key is the suite's name, whatever the body says.
    return suite_from_dict({**body, "name": name})
