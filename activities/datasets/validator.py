"""Streaming JSONL dataset validation.

Training files can be many gigabytes, so nothing here holds the file: lines are checked
one at a time and only counters, the first few findings per kind and an 8-byte hash per
record (for duplicate detection) are kept. `validate_stream` re-splits a byte stream into
lines with memory bounded by the longest line (and by `max_line_bytes` for runaway lines).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterable, Callable, Iterable
from pathlib import Path
from typing import Any

from activities.datasets.chat_format import check_chat_example
from activities.datasets.dpo_format import check_dpo_example
from activities.datasets.example_check import ExampleCheck
from activities.datasets.lines import DEFAULT_MAX_LINE_BYTES, Line, LineSplitter
from activities.datasets.report import (
    DEFAULT_EXAMPLES_PER_KIND,
    DatasetFormat,
    DatasetStats,
    FindingCollector,
    ValidationReport,
    error,
    json_type,
    warning,
)
from activities.datasets.structure import (
    check_structure,
    needs_structure_check,
    nesting_message,
    repeated_keys,
)
from activities.datasets.tallies import FirstSeen, MessageCounts

DEFAULT_MIN_EXAMPLES = 10

ExampleHook = Callable[[dict[str, Any], int], None]
ExampleChecker = Callable[[dict[str, Any], int], ExampleCheck]

CHECKERS: dict[DatasetFormat, ExampleChecker] = {
    "chat": check_chat_example,
    "dpo": check_dpo_example,
}

_BOM = b"\xef\xbb\xbf"
# What a first line looks like when the file is not JSON Lines, and what to tell the user.
_NOT_JSONL_HINTS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"\x1f\x8b",), "the file looks gzip-compressed; upload the uncompressed JSON Lines file"),
    ((b"PK\x03\x04",), "the file looks like a zip archive; upload the JSON Lines file itself"),
    (
        (b"\xff\xfe", b"\xfe\xff"),
        "the file looks like UTF-16 text; save it as UTF-8 (JSON Lines must be UTF-8)",
    ),
)
_ARRAY_HINT = (
    "the file looks like one JSON array; JSON Lines needs one JSON object per line,"
    " with no enclosing brackets"
)
_PRETTY_HINT = (
    "the file looks like pretty-printed JSON; JSON Lines needs each object on a single line"
)


class DatasetValidator:
    """Feed lines in order, then call `finish()` once for the report.

    `on_example(example, line_no)` is called for every record without errors, e.g. to
    count tokens; exceptions it raises propagate to the caller.
    """

    def __init__(
        self,
        fmt: DatasetFormat = "chat",
        *,
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        min_examples: int = DEFAULT_MIN_EXAMPLES,
        examples_per_kind: int = DEFAULT_EXAMPLES_PER_KIND,
        on_example: ExampleHook | None = None,
    ) -> None:
        if fmt not in CHECKERS:
            raise ValueError(f"unknown dataset format {fmt!r}; expected one of {sorted(CHECKERS)}")
        self.fmt: DatasetFormat = fmt
        self.max_line_bytes = max_line_bytes
        self.min_examples = min_examples
        self.on_example: ExampleHook | None = on_example
        self._check = CHECKERS[fmt]
        self._findings = FindingCollector(examples_per_kind)
        self._seen = FirstSeen()
        self._stats = DatasetStats()
        self._message_counts = MessageCounts()
        self._trained_assistant_messages = 0
        self._first_content_seen = False
        self._report: ValidationReport | None = None

    def feed(self, line: bytes, line_no: int) -> None:
        """Check one line (with or without its `\\n` / `\\r\\n` terminator)."""
        self._count_line(len(line))
        body = _strip_eol(line)
        if len(body) > self.max_line_bytes:
            self._too_long(line_no, len(body))
            return
        if not body or body.isspace():
            self._stats.blank_lines += 1
            self._findings.add(warning("blank_line", "blank line skipped", line=line_no))
            return
        self._stats.examples += 1
        if not self._first_content_seen:
            self._first_content_seen = True
            self._hint_if_not_jsonl(body)
        if line_no == 1 and body.startswith(_BOM):
            self._findings.add(warning("utf8_bom", "file starts with a UTF-8 BOM", line=line_no))
            body = body[len(_BOM) :]
        parsed = self._parse(body, line_no)
        if parsed is None:
            return
        example, text = parsed
        if needs_structure_check(text):
            shape = check_structure(example, line_no)
            if not shape.ok:
                self._add_check(shape)
                return
        try:
            self._check_example(example, text, line_no)
        except RecursionError:
            # The depth limit should make this unreachable; a finding beats a crash.
            self._findings.add(error("too_deeply_nested", nesting_message(None), line=line_no))

    def _check_example(self, example: dict[str, Any], text: str, line_no: int) -> None:
        canonical = _canonical(example)
        repeats = repeated_keys(text, canonical)
        if repeats:
            message = (
                f"{repeats} key(s) repeat an earlier key of the same object (not shown);"
                " JSON keeps only the last value"
            )
            self._findings.add(warning("duplicate_key", message, line=line_no))
        first = self._seen.first_line(_hash(canonical), line_no)
        if first is not None:
            self._stats.duplicate_examples += 1
            message = f"exact duplicate of the example on line {first}"
            self._findings.add(warning("duplicate_example", message, line=line_no))
        result = self._check(example, line_no)
        self._add_check(result)
        if result.messages is not None:
            self._message_counts.add(result.messages)
            self._stats.assistant_messages += result.assistant_messages
            self._trained_assistant_messages += result.trained_assistant_messages
        if result.ok:
            self._stats.valid_examples += 1
            if self.on_example is not None:
                self.on_example(example, line_no)

    def _add_check(self, result: ExampleCheck) -> None:
        for finding, count in result.counted():
            self._findings.add(finding, count=count)

    def _hint_if_not_jsonl(self, body: bytes) -> None:
        """One file-level error naming the likely cause when line 1 is not JSON Lines."""
        hint = None
        for starts, text in _NOT_JSONL_HINTS:
            if body.startswith(starts):
                hint = text
        if hint is None and b"\x00" in body[:4]:
            hint = _NOT_JSONL_HINTS[2][1]  # UTF-16 (or UTF-32) without a BOM
        if hint is None:
            start = body.removeprefix(_BOM).strip()
            if start.startswith(b"["):
                hint = _ARRAY_HINT
            elif start == b"{":
                hint = _PRETTY_HINT
        if hint is not None:
            self._findings.add(error("not_json_lines", hint))

    def feed_too_long(self, line_no: int, size: int) -> None:
        """Record a line the caller dropped unread because it exceeded `max_line_bytes`.

        `size` is the line's length including its terminator.
        """
        self._count_line(size)
        self._too_long(line_no, size)

    def finish(self) -> ValidationReport:
        if self._report is not None:
            return self._report
        examples = self._stats.examples
        if examples < self.min_examples:
            message = f"file has {examples} examples; at least {self.min_examples} are required"
            self._findings.add(error("too_few_examples", message))
        counts = self._message_counts
        if self.fmt == "chat" and counts.examples and not self._trained_assistant_messages:
            message = (
                "no example has an assistant message with weight 1, so there is nothing to train on"
            )
            self._findings.add(error("nothing_to_train", message))
        self._stats.messages = counts.total
        self._stats.min_messages_per_example = counts.low
        self._stats.max_messages_per_example = counts.high
        self._stats.mean_messages_per_example = counts.mean
        error_count = self._findings.count("error")
        self._report = ValidationReport(
            ok=error_count == 0,
            format=self.fmt,
            stats=self._stats.model_copy(),
            errors=self._findings.summaries("error"),
            warnings=self._findings.summaries("warning"),
            error_count=error_count,
            warning_count=self._findings.count("warning"),
        )
        return self._report

    def _count_line(self, size: int) -> None:
        if self._report is not None:
            raise RuntimeError("feed() called after finish()")
        self._stats.lines += 1
        self._stats.bytes += size

    def _too_long(self, line_no: int, size: int) -> None:
        self._stats.examples += 1
        message = f"line is {size} bytes; the limit is {self.max_line_bytes}"
        self._findings.add(error("line_too_long", message, line=line_no))

    def _parse(self, body: bytes, line_no: int) -> tuple[dict[str, Any], str] | None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            message = f"invalid UTF-8 at byte {exc.start + 1}: {exc.reason}"
            self._findings.add(error("invalid_utf8", message, line=line_no))
            return None
        try:
            value = json.loads(text, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            message = f"invalid JSON at column {exc.colno}: {exc.msg}"
            self._findings.add(error("invalid_json", message, line=line_no))
            return None
        except RecursionError:
            self._findings.add(error("too_deeply_nested", nesting_message(None), line=line_no))
            return None
        except ValueError as exc:
            self._findings.add(error("invalid_json", f"invalid JSON: {exc}", line=line_no))
            return None
        if not isinstance(value, dict):
            message = f"line must be a JSON object, got {json_type(value)}"
            self._findings.add(error("not_object", message, line=line_no))
            return None
        return value, text


def validate_lines(
    lines: Iterable[bytes],
    fmt: DatasetFormat = "chat",
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    on_example: ExampleHook | None = None,
) -> ValidationReport:
    """Validate already-split lines, numbered from 1."""
    validator = DatasetValidator(
        fmt, max_line_bytes=max_line_bytes, min_examples=min_examples, on_example=on_example
    )
    for line_no, line in enumerate(lines, start=1):
        validator.feed(line, line_no)
    return validator.finish()


async def validate_stream(
    chunks: AsyncIterable[bytes],
    fmt: DatasetFormat = "chat",
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    on_example: ExampleHook | None = None,
) -> ValidationReport:
    """Validate a JSONL byte stream whose chunks may split lines and UTF-8 characters."""
    feed = _ChunkFeed(fmt, max_line_bytes, min_examples, on_example)
    async for chunk in chunks:
        feed.push(chunk)
    return feed.finish()


def validate_chunks(
    chunks: Iterable[bytes],
    fmt: DatasetFormat = "chat",
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    min_examples: int = DEFAULT_MIN_EXAMPLES,
    on_example: ExampleHook | None = None,
) -> ValidationReport:
    """Synchronous twin of `validate_stream`, for running in a worker thread."""
    feed = _ChunkFeed(fmt, max_line_bytes, min_examples, on_example)
    for chunk in chunks:
        feed.push(chunk)
    return feed.finish()


class _ChunkFeed:
    """Chunks in, lines to the validator, whatever the chunk boundaries."""

    def __init__(
        self,
        fmt: DatasetFormat,
        max_line_bytes: int,
        min_examples: int,
        on_example: ExampleHook | None,
    ) -> None:
        self._validator = DatasetValidator(
            fmt, max_line_bytes=max_line_bytes, min_examples=min_examples, on_example=on_example
        )
        self._splitter = LineSplitter(max_line_bytes)

    def push(self, chunk: bytes) -> None:
        for line in self._splitter.push(chunk):
            _dispatch(self._validator, line)

    def finish(self) -> ValidationReport:
        for line in self._splitter.close():
            _dispatch(self._validator, line)
        return self._validator.finish()


def validate_file(
    path: Path, fmt: DatasetFormat = "chat", *, chunk_bytes: int = 1024 * 1024
) -> ValidationReport:
    """Validate a file in bounded memory (whatever its line lengths)."""
    with path.open("rb") as handle:
        return validate_chunks(iter(lambda: handle.read(chunk_bytes), b""), fmt)


def _dispatch(validator: DatasetValidator, line: Line) -> None:
    if line.data is None:
        validator.feed_too_long(line.number, line.size)
    else:
        validator.feed(line.data, line.number)


def _canonical(example: dict[str, Any]) -> str:
    # Canonical form: key order and whitespace do not make two records different.
    return json.dumps(example, sort_keys=True, separators=(",", ":"))


def _hash(canonical: str) -> int:
    digest = hashlib.blake2b(canonical.encode("ascii"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
