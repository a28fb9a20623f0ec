"""Fetch a custom suite's file by URI with the dataset fetcher, so the same access rules
apply as to training data (dataset root, allowlisted prefixes, size cap)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from activities.datasets.fetch import FetchResult, fetch_to_file
from activities.evaluation.custom_suites import parse_document, uri_suite
from core.custom_suite_checks import UriSuiteEntry, document_format
from core.evaluation_suites import Suite, SuiteError
from core.settings import Settings


async def fetch_uri_suite(
    name: str,
    entry: UriSuiteEntry,
    *,
    settings: Settings,
    tenant_id: str,
    max_bytes: int,
) -> tuple[Suite, FetchResult]:
    """Fetch and parse the entry's file. Raises SuiteError / DatasetUriError (final) or
    DatasetFetchUnavailable (worth retrying)."""
    fmt = document_format(entry.uri)
    # Suites are small; a lower cap than datasets keeps a wrong URI from streaming gigabytes.
    limited = settings.model_copy(update={"dataset_max_bytes": max_bytes})
    with tempfile.TemporaryDirectory(prefix="custom-suite-") as tmp:
        dest = Path(tmp) / f"suite.{fmt}"
        fetched = await fetch_to_file(entry.uri, dest, settings=limited, tenant_id=tenant_id)
        raw = await asyncio.to_thread(dest.read_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SuiteError("the file is not UTF-8 text") from None
    document = await asyncio.to_thread(parse_document, text, fmt)
    return uri_suite(name, entry, document), fetched
