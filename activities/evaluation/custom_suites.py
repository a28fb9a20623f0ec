"""A fetched custom suite file (see `core.custom_suite_checks` for the entry format): its
text parsed into a suite body, then merged with the entry's own fields into a `Suite`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from core.custom_suite_checks import DocumentFormat, UriSuiteEntry, inline_suite
from core.evaluation_suites import Suite, SuiteError


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
