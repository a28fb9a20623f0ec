"""`harness_config.custom_tests`: a user's own suites, inline or fetched by URI.

Each entry maps a suite name to either an inline suite body (`graders`, `samples`, ...) or
`{"uri": ..., "category"?, "description"?, "graders"?}` naming a file of samples:
- `.jsonl` / `.ndjson`: one sample per line;
- `.yaml` / `.yml` / `.json`: a suite body (mapping) or a list of samples.
The harness_config key names the suite; fields in the entry override the file's. This
module only checks and parses (the API uses it too); `suite_fetch` fetches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
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


def parse_document(text: str, fmt: DocumentFormat) -> dict[str, Any]:
    """A suite body from a file's text; a bare list (or JSONL) is the list of samples."""
    if fmt == "jsonl":
        samples = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                samples.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SuiteError(f"line {number}: not valid JSON ({exc.msg})") from None
        return {"samples": samples}
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SuiteError(f"not valid {fmt.upper()}: {exc}") from None
    if isinstance(data, list):
        return {"samples": data}
    if isinstance(data, Mapping):
        return dict(data)
    raise SuiteError("the file must hold a suite (a mapping) or a list of samples")


def uri_suite(name: str, entry: UriSuiteEntry, document: Mapping[str, Any]) -> Suite:
    body = {k: v for k, v in document.items() if k != "name"}
    declared = body.get("category")
    if declared is not None and declared != entry.category.value:
        raise SuiteError(
            f"the file declares category '{declared}' but the entry says "
            f"'{entry.category.value}'; set 'category' in the entry to match"
        )
    body["category"] = entry.category.value
    if entry.graders is not None:
        body["graders"] = entry.graders
    if entry.description is not None:
        body["description"] = entry.description
    return inline_suite(name, body)
