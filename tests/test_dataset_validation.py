"""Dataset validator: one test per rule on small in-test files, plus streaming behaviour."""

from __future__ import annotations

import copy
import json
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from activities.datasets.datasheet import check_datasheet, check_datasheet_against_stats
from activities.datasets.report import DatasetStats, Finding, ValidationReport
from activities.datasets.validator import (
    DatasetValidator,
    LineSplitter,
    validate_lines,
    validate_stream,
)

Example = dict[str, Any]

# ---- builders ------------------------------------------------------------------------------


def chat(i: int) -> Example:
    return {
        "messages": [
            {"role": "system", "content": "You are a patient tutor."},
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }


def dpo(i: int) -> Example:
    return {
        "input": {"messages": [{"role": "user", "content": f"Question {i}?"}]},
        "preferred_output": [{"role": "assistant", "content": f"Good answer {i}."}],
        "non_preferred_output": [{"role": "assistant", "content": f"Bad answer {i}."}],
    }


def encode(example: Any, eol: bytes = b"\n") -> bytes:
    return json.dumps(example, ensure_ascii=False).encode() + eol


def dataset(
    bad: dict[int, bytes] | None = None, *, total: int = 12, make: Callable[[int], Example] = chat
) -> list[bytes]:
    """`total` lines of distinct valid examples, with `bad[line_no]` replacing those lines."""
    bad = bad or {}
    return [bad.get(n, encode(make(n))) for n in range(1, total + 1)]


def mutated(
    i: int, change: Callable[[Example], None], make: Callable[[int], Example] = chat
) -> bytes:
    example = make(i)
    change(example)
    return encode(example)


def where(report: ValidationReport, kind: str) -> list[tuple[int | None, str | None]]:
    summary = report.summary(kind)
    return [] if summary is None else [(f.line, f.field) for f in summary.examples]


def count(report: ValidationReport, kind: str) -> int:
    summary = report.summary(kind)
    return 0 if summary is None else summary.count


def kinds(report: ValidationReport) -> set[str]:
    return {s.kind for s in (*report.errors, *report.warnings)}


# ---- per-example chat rules ----------------------------------------------------------------


def msg(index: int, **fields: Any) -> Callable[[Example], None]:
    def change(example: Example) -> None:
        example["messages"][index].update(fields)

    return change


def drop(index: int, key: str) -> Callable[[Example], None]:
    def change(example: Example) -> None:
        del example["messages"][index][key]

    return change


def top(**fields: Any) -> Callable[[Example], None]:
    return lambda example: example.update(fields)


def replace_messages(messages: list[Any]) -> Callable[[Example], None]:
    return lambda example: example.update(messages=copy.deepcopy(messages))


def call(call_id: str = "call_1", arguments: Any = '{"x": 1}') -> dict[str, Any]:
    function = {"name": "lookup", "arguments": arguments}
    return {"id": call_id, "type": "function", "function": function}


SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Hi"}
REPLY = {"role": "assistant", "content": "Done."}


def tool_flow(*, result_id: str = "call_1", arguments: Any = '{"x": 1}') -> list[Any]:
    return [
        SYSTEM,
        USER,
        {"role": "assistant", "tool_calls": [call(arguments=arguments)]},
        {"role": "tool", "tool_call_id": result_id, "content": "42"},
        REPLY,
    ]


IMAGE = {"type": "image_url", "image_url": {"url": "https://example.test/a.png"}}

# (rule, change, severity, field of the finding)
CHAT_RULES: list[tuple[str, Callable[[Example], None], str, str | None]] = [
    ("missing_messages", lambda e: e.pop("messages"), "error", "messages"),
    ("empty_messages", replace_messages([]), "error", "messages"),
    ("empty_messages", top(messages={"role": "user"}), "error", "messages"),
    ("message_not_object", replace_messages([SYSTEM, "hello", REPLY]), "error", "messages[1]"),
    ("unknown_message_key", msg(1, mood="happy"), "error", "messages[1]"),
    ("missing_role", drop(1, "role"), "error", "messages[1].role"),
    ("unknown_role", msg(1, role="robot"), "error", "messages[1].role"),
    ("unknown_role", msg(1, role=7), "error", "messages[1].role"),
    ("missing_content", drop(1, "content"), "error", "messages[1].content"),
    ("missing_content", msg(2, content=None), "error", "messages[2].content"),
    ("invalid_content_type", msg(1, content=42), "error", "messages[1].content"),
    (
        "invalid_content_type",
        msg(1, content=[{"type": "audio", "data": "x"}]),
        "error",
        "messages[1].content[0].type",
    ),
    (
        "invalid_content_type",
        msg(1, content=[{"type": "text", "text": 5}]),
        "error",
        "messages[1].content[0].text",
    ),
    ("invalid_content_type", msg(2, content=[IMAGE]), "error", "messages[2].content[0]"),
    (
        "invalid_content_type",
        msg(1, content=[{"type": "image_url", "image_url": {"url": ""}}]),
        "error",
        "messages[1].content[0].image_url",
    ),
    ("empty_content", msg(1, content="   "), "warning", "messages[1].content"),
    ("empty_content", msg(1, content=[]), "warning", "messages[1].content"),
    ("no_assistant_message", replace_messages([SYSTEM, USER]), "error", "messages"),
    ("invalid_weight", msg(2, weight=2), "error", "messages[2].weight"),
    ("invalid_weight", msg(2, weight=True), "error", "messages[2].weight"),
    ("invalid_weight", msg(1, weight=1), "error", "messages[1].weight"),
    ("no_trained_assistant_message", msg(2, weight=0), "warning", "messages"),
    ("invalid_name", msg(1, name=""), "error", "messages[1].name"),
    (
        "invalid_tool_call",
        replace_messages(tool_flow(result_id="call_9")),
        "error",
        "messages[3].tool_call_id",
    ),
    (
        "invalid_tool_call",
        replace_messages(tool_flow(arguments={"x": 1})),
        "error",
        "messages[2].tool_calls[0].function.arguments",
    ),
    (
        "invalid_tool_call",
        replace_messages([SYSTEM, USER, {"role": "assistant", "tool_calls": []}, REPLY]),
        "error",
        "messages[2].tool_calls",
    ),
    (
        "invalid_tool_call",
        replace_messages([SYSTEM, USER, {"role": "tool", "content": "42"}, REPLY]),
        "error",
        "messages[2].tool_call_id",
    ),
    (
        "invalid_tool_call",
        replace_messages([SYSTEM, {**USER, "tool_calls": [call()]}, REPLY]),
        "error",
        "messages[1].tool_calls",
    ),
    (
        "tool_arguments_not_json",
        replace_messages(tool_flow(arguments="{not json")),
        "warning",
        "messages[2].tool_calls[0].function.arguments",
    ),
    ("unknown_top_level_key", top(metadata={"id": 1}), "warning", None),
    (
        "invalid_tools",
        top(tools=[{"type": "function", "function": {"parameters": {}}}]),
        "error",
        "tools[0].function.name",
    ),
    ("invalid_tools", top(parallel_tool_calls="yes"), "error", "parallel_tool_calls"),
    ("missing_system_message", replace_messages([USER, REPLY]), "warning", "messages"),
    (
        "last_message_not_assistant",
        replace_messages([SYSTEM, USER, REPLY, USER]),
        "warning",
        "messages[3]",
    ),
]


@pytest.mark.parametrize(
    ("rule", "change", "severity", "field"),
    CHAT_RULES,
    ids=[f"{rule}-{n}" for n, (rule, *_) in enumerate(CHAT_RULES)],
)
def test_chat_rule(
    rule: str, change: Callable[[Example], None], severity: str, field: str | None
) -> None:
    lines = dataset({3: mutated(3, change), 8: mutated(8, change)})
    report = validate_lines(lines)

    assert where(report, rule) == [(3, field), (8, field)]
    assert count(report, rule) == 2
    summary = report.summary(rule)
    assert summary is not None and summary.severity == severity
    assert report.ok is (severity == "warning")
    # Every other line is clean, so nothing else is reported about them.
    reported = {f.line for s in (*report.errors, *report.warnings) for f in s.examples}
    assert reported == {3, 8}
    assert report.stats.valid_examples == (12 if severity == "warning" else 10)


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(tool_flow(), id="tool-calls"),
        pytest.param(
            [
                SYSTEM,
                {"role": "user", "content": [{"type": "text", "text": "What?"}, IMAGE]},
                REPLY,
            ],
            id="content-parts",
        ),
        pytest.param(
            [SYSTEM, USER, {**REPLY, "weight": 0}, USER, {**REPLY, "weight": 1}], id="weights"
        ),
        pytest.param(
            [
                SYSTEM,
                USER,
                {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": "{}"},
                {"role": "assistant", "content": None, "refusal": "I can't help with that."},
            ],
            id="legacy-functions-and-refusal",
        ),
    ],
)
def test_well_formed_variants_pass(messages: list[Any]) -> None:
    report = validate_lines(dataset({5: mutated(5, replace_messages(messages))}))

    assert report.ok, report.first_errors_text()
    assert report.errors == [] and report.warnings == []


# ---- line-level and file-level rules -------------------------------------------------------


def test_valid_file_is_ok_with_exact_stats() -> None:
    lines = dataset()
    lines[4] = mutated(5, replace_messages(tool_flow()))

    report = validate_lines(lines)

    assert report.ok and report.error_count == 0 and report.warning_count == 0
    assert report.format == "chat"
    assert report.stats == DatasetStats(
        lines=12,
        bytes=sum(len(line) for line in lines),
        examples=12,
        valid_examples=12,
        messages=11 * 3 + 5,
        assistant_messages=11 + 2,
        min_messages_per_example=3,
        mean_messages_per_example=3.17,
        max_messages_per_example=5,
    )
    assert report.first_errors_text() == ""


def test_invalid_utf8() -> None:
    report = validate_lines(dataset({4: b'{"messages": "caf\xe9"}\n'}))

    assert where(report, "invalid_utf8") == [(4, None)]
    assert report.error_count == 1
    finding = report.errors[0].examples[0]
    assert finding.message == "invalid UTF-8 at byte 18: invalid continuation byte"
    assert report.stats.examples == 12 and report.stats.valid_examples == 11


def test_invalid_json() -> None:
    lines = dataset({2: b'{"messages": [\n', 6: b'{"messages": NaN}\n', 9: b"[" * 100_000 + b"\n"})

    report = validate_lines(lines)

    assert where(report, "invalid_json") == [(2, None), (6, None)]
    assert where(report, "too_deeply_nested") == [(9, None)]
    assert report.error_count == 3
    assert report.stats.valid_examples == 9


def test_not_object() -> None:
    report = validate_lines(dataset({5: b"[1, 2]\n", 7: b'"text"\n'}))

    assert where(report, "not_object") == [(5, None), (7, None)]
    assert "got array" in report.errors[0].examples[0].message


def test_blank_lines_are_warned_and_skipped() -> None:
    lines = dataset({3: b"\n", 9: b"  \t\r\n"})
    lines.append(b"")

    report = validate_lines(lines)

    assert report.ok
    assert where(report, "blank_line") == [(3, None), (9, None), (13, None)]
    assert report.stats.blank_lines == 3
    assert report.stats.examples == 10


def test_duplicate_examples_match_canonical_json() -> None:
    original = chat(2)
    reordered = {"messages": [dict(reversed(m.items())) for m in original["messages"]]}
    lines = dataset({6: json.dumps(reordered, indent=1).replace("\n", " ").encode() + b"\n"})
    lines[10] = encode(original)

    report = validate_lines(lines)

    assert report.ok
    assert where(report, "duplicate_example") == [(6, None), (11, None)]
    messages = [f.message for f in report.warnings[0].examples]
    assert messages == ["exact duplicate of the example on line 2"] * 2
    assert report.stats.duplicate_examples == 2


def test_too_few_examples() -> None:
    report = validate_lines([*dataset(total=9), b"\n"])

    assert where(report, "too_few_examples") == [(None, None)]
    assert report.error_count == 1
    assert report.errors[0].examples[0].message == ("file has 9 examples; at least 10 are required")
    assert validate_lines(dataset(total=10)).ok


def test_empty_file_has_too_few_examples() -> None:
    report = validate_lines([])

    assert kinds(report) == {"too_few_examples"}
    assert report.stats == DatasetStats()


def test_line_too_long() -> None:
    lines = dataset()
    lines[6] = encode({"messages": [{"role": "user", "content": "x" * 500}]})

    report = validate_lines(lines, max_line_bytes=300)

    assert where(report, "line_too_long") == [(7, None)]
    assert report.error_count == 1
    assert report.stats.examples == 12 and report.stats.valid_examples == 11


def test_utf8_bom_on_first_line_is_tolerated() -> None:
    lines = dataset()
    lines[0] = b"\xef\xbb\xbf" + lines[0]

    report = validate_lines(lines)

    assert report.ok and where(report, "utf8_bom") == [(1, None)]
    assert report.stats.valid_examples == 12


def test_crlf_lines_validate_like_lf() -> None:
    lines = [encode(chat(n), b"\r\n") for n in range(1, 13)]

    report = validate_lines(lines)

    assert report.ok and report.warnings == []
    assert report.stats.bytes == sum(len(line) for line in lines)


def test_findings_never_quote_content() -> None:
    secret = "jane.doe@example.test 555-0100"
    bad = {
        "messages": [
            {"role": "user", "content": secret, "mood": secret},
            {"role": "assistant", "content": {"text": secret}, "weight": secret},
        ],
        "tools": secret,
    }
    lines = dataset({4: encode(bad), 5: b'{"messages": "' + secret.encode() + b'"'})

    report = validate_lines(lines)

    assert report.error_count >= 5
    text = report.model_dump_json()
    assert "jane" not in text and "555" not in text


# ---- report ---------------------------------------------------------------------------------


def test_first_errors_text_and_example_cap() -> None:
    bad = {n: mutated(n, msg(1, role="robot")) for n in range(3, 10)}
    bad[2] = b"{oops\n"
    lines = dataset(bad, total=9)

    report = validate_lines(lines)

    roles = report.summary("unknown_role")
    assert roles is not None and roles.count == 7
    assert [f.line for f in roles.examples] == [3, 4, 5, 6, 7]
    assert report.error_count == 9
    assert report.first_errors_text(3) == "\n".join(
        [
            "file has 9 examples; at least 10 are required (too_few_examples)",
            "line 2: invalid JSON at column 2: Expecting property name enclosed in double quotes"
            " (invalid_json)",
            "line 3: messages[1].role is not one of system, user, assistant, tool, function"
            " (value not shown) (unknown_role)",
            "... and 6 more error(s)",
        ]
    )


def test_report_round_trips_through_json() -> None:
    report = validate_lines(dataset({3: b"[]\n", 4: b"\n"}))

    assert ValidationReport.model_validate_json(report.model_dump_json()) == report


def test_on_example_sees_valid_examples_only() -> None:
    seen: list[tuple[int, str]] = []
    lines = dataset({2: b"{}\n", 5: b"\n"})

    report = validate_lines(
        lines, on_example=lambda e, n: seen.append((n, e["messages"][1]["content"]))
    )

    assert report.stats.valid_examples == 10
    assert seen == [(n, f"Question {n}?") for n in range(1, 13) if n not in (2, 5)]


def test_validator_refuses_feed_after_finish() -> None:
    validator = DatasetValidator()
    validator.feed(encode(chat(1)), 1)
    first = validator.finish()

    assert validator.finish() is first
    with pytest.raises(RuntimeError):
        validator.feed(encode(chat(2)), 2)


# ---- DPO -----------------------------------------------------------------------------------


def dpo_change(path: tuple[Any, ...], value: Any) -> Callable[[Example], None]:
    def change(example: Example) -> None:
        target: Any = example
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


_DELETE = object()

DPO_RULES: list[tuple[str, Callable[[Example], None], str, str | None]] = [
    ("missing_input", dpo_change(("input",), _DELETE), "error", "input"),
    ("invalid_input", dpo_change(("input",), ["x"]), "error", "input"),
    ("missing_messages", dpo_change(("input", "messages"), _DELETE), "error", "input.messages"),
    ("empty_messages", dpo_change(("input", "messages"), []), "error", "input.messages"),
    (
        "unknown_role",
        dpo_change(("input", "messages", 0, "role"), "human"),
        "error",
        "input.messages[0].role",
    ),
    ("missing_output", dpo_change(("preferred_output",), _DELETE), "error", "preferred_output"),
    (
        "invalid_output",
        dpo_change(("non_preferred_output",), [REPLY, REPLY]),
        "error",
        "non_preferred_output",
    ),
    (
        "invalid_output",
        dpo_change(("preferred_output", 0, "role"), "user"),
        "error",
        "preferred_output[0].role",
    ),
    (
        "missing_content",
        dpo_change(("preferred_output", 0, "content"), _DELETE),
        "error",
        "preferred_output[0].content",
    ),
    (
        "identical_outputs",
        lambda e: e.update(non_preferred_output=e["preferred_output"]),
        "warning",
        "non_preferred_output",
    ),
    ("unknown_top_level_key", dpo_change(("input", "seed"), 4), "warning", "input"),
    ("unknown_top_level_key", dpo_change(("messages",), []), "warning", None),
]


@pytest.mark.parametrize(
    ("rule", "change", "severity", "field"),
    DPO_RULES,
    ids=[f"{rule}-{n}" for n, (rule, *_) in enumerate(DPO_RULES)],
)
def test_dpo_rule(
    rule: str, change: Callable[[Example], None], severity: str, field: str | None
) -> None:
    lines = dataset({4: mutated(4, change, dpo), 9: mutated(9, change, dpo)}, make=dpo)

    report = validate_lines(lines, fmt="dpo")

    assert where(report, rule) == [(4, field), (9, field)]
    assert count(report, rule) == 2
    assert report.ok is (severity == "warning")
    reported = {f.line for s in (*report.errors, *report.warnings) for f in s.examples}
    assert reported == {4, 9}


def test_valid_dpo_file() -> None:
    report = validate_lines(dataset(make=dpo), fmt="dpo")

    assert report.ok and report.warnings == []
    assert report.format == "dpo"
    assert report.stats.messages == 36
    assert report.stats.assistant_messages == 24
    assert report.stats.mean_messages_per_example == 3.0


# ---- datasheet -----------------------------------------------------------------------------


SHEET = {"source": "tutoring logs 2024", "license": "internal", "redaction": "names removed"}


def sheet_problems(findings: list[Finding]) -> list[tuple[str, str | None]]:
    return [(f.kind, f.field) for f in findings]


def test_datasheet_complete_passes() -> None:
    assert check_datasheet({**SHEET, "size": 12}) == []
    assert check_datasheet_against_stats({**SHEET, "size": 12}, DatasetStats(examples=12)) == []
    assert check_datasheet_against_stats(SHEET, DatasetStats(examples=12)) == []


@pytest.mark.parametrize("field", ["source", "license", "redaction"])
@pytest.mark.parametrize("value", [_DELETE, None, "", "   ", 3])
def test_datasheet_required_field(field: str, value: Any) -> None:
    sheet: dict[str, Any] = dict(SHEET)
    if value is _DELETE:
        del sheet[field]
    else:
        sheet[field] = value

    findings = check_datasheet(sheet)

    assert sheet_problems(findings) == [("missing_datasheet_field", field)]
    assert findings[0].severity == "error" and findings[0].line is None
    assert findings[0].message.startswith(f"datasheet.{field} ")


@pytest.mark.parametrize("size", [-1, 2.5, True, "12"])
def test_datasheet_size_must_be_non_negative_int(size: Any) -> None:
    sheet = {**SHEET, "size": size}

    assert sheet_problems(check_datasheet(sheet)) == [("invalid_datasheet_size", "size")]
    # An unusable size is reported once, not again as a mismatch.
    assert check_datasheet_against_stats(sheet, DatasetStats(examples=12)) == []


def test_datasheet_size_mismatch_names_both_numbers() -> None:
    findings = check_datasheet_against_stats({**SHEET, "size": 100}, DatasetStats(examples=98))

    assert sheet_problems(findings) == [("datasheet_size_mismatch", "size")]
    assert findings[0].message == "datasheet.size is 100 but the dataset file has 98 records"


def test_datasheet_not_an_object() -> None:
    assert sheet_problems(check_datasheet(None)) == [("invalid_datasheet", None)]


# ---- streaming -----------------------------------------------------------------------------


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def multibyte_lines() -> list[bytes]:
    """Valid examples with 2-, 3- and 4-byte characters, CRLF and LF, and one bad line."""
    lines = []
    for n in range(1, 13):
        example = chat(n)
        example["messages"][1]["content"] = f"Où est le café {n}? 日本語 🙂"
        lines.append(encode(example, b"\r\n" if n % 2 else b"\n"))
    lines[6] = encode({"messages": [{"role": "robot", "content": "é"}]})
    lines[-1] = lines[-1].rstrip(b"\r\n")  # final line without a newline
    return lines


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 64, 1 << 16])
async def test_stream_matches_line_validation(chunk_size: int) -> None:
    lines = multibyte_lines()
    data = b"".join(lines)
    if chunk_size < 4:
        # Some boundaries fall inside multi-byte characters.
        assert any(0x80 <= data[p] < 0xC0 for p in range(chunk_size, len(data), chunk_size))

    report = await validate_stream(chunked(data, chunk_size))

    assert report == validate_lines(lines)
    assert where(report, "unknown_role") == [(7, "messages[0].role")]
    assert report.stats.lines == 12 and report.stats.bytes == len(data)
    assert report.stats.valid_examples == 11


async def test_stream_split_inside_a_character() -> None:
    lines = multibyte_lines()
    data = b"".join(lines)
    cut = data.index("🙂".encode()) + 2

    async def two_chunks() -> AsyncIterator[bytes]:
        yield data[:cut]
        yield data[cut:]

    report = await validate_stream(two_chunks())

    assert report == validate_lines(lines)
    assert count(report, "invalid_utf8") == 0


async def test_stream_line_too_long_is_dropped_without_buffering() -> None:
    chunk = b"x" * (1 << 16)
    head = b"".join(dataset(total=5))
    tail = b"".join(dataset(total=10)[5:])

    async def chunks() -> AsyncIterator[bytes]:
        yield head + b'{"messages": "'
        for _ in range(80):  # a 5 MB line
            yield chunk
        yield b'"}\n' + tail

    tracemalloc.start()
    try:
        report = await validate_stream(chunks(), max_line_bytes=100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert where(report, "line_too_long") == [(6, None)]
    assert report.error_count == 1
    assert report.stats.lines == 11 and report.stats.examples == 11
    assert report.stats.valid_examples == 10
    assert peak < 1_000_000


def test_splitter_keeps_terminators_and_numbers_lines() -> None:
    splitter = LineSplitter(max_line_bytes=8)
    pieces = [b"ab\r\ncd\n\nef", b"ghijklmno", b"pq\nrs"]
    got = [line for piece in pieces for line in splitter.push(piece)] + [*splitter.close()]

    assert [(line.number, line.data, line.size) for line in got] == [
        (1, b"ab\r\n", 4),
        (2, b"cd\n", 3),
        (3, b"\n", 1),
        (4, None, 14),
        (5, b"rs", 2),
    ]


# A ~50 MB file: 12,000 lines of ~4.2 KB with multi-byte text, some CRLF, two blank lines,
# a duplicate every 1000th line and an unknown role every 2500th (offset 1250).
BIG_LINES = 12_000
BIG_CHUNK = 64 * 1024
FILLER = "naïve café, 日本語のテキスト 🙂 " * 92


def big_line(n: int) -> bytes:
    if n % 5000 == 0:
        return b"\n"
    source = n - 1 if n % 1000 == 0 else n
    example = chat(source)
    example["messages"][1]["content"] = f"{source}: {FILLER}"
    if n % 2500 == 1250:
        example["messages"][1]["role"] = "robot"
    return encode(example, b"\r\n" if n % 7 == 0 else b"\n")


class BigFile:
    """Generates the file lazily in fixed-size chunks and records where the cuts fell."""

    def __init__(self) -> None:
        self.bytes = 0
        self.cuts_mid_line = 0
        self.cuts_mid_char = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        pending = bytearray()
        for data in self._lines():
            pending += data
            while len(pending) > BIG_CHUNK:
                self.cuts_mid_line += pending[BIG_CHUNK - 1] != ord("\n")
                self.cuts_mid_char += 0x80 <= pending[BIG_CHUNK] < 0xC0
                yield bytes(pending[:BIG_CHUNK])
                del pending[:BIG_CHUNK]
        yield bytes(pending)

    def _lines(self) -> Iterator[bytes]:
        for n in range(1, BIG_LINES + 1):
            data = big_line(n)
            self.bytes += len(data)
            yield data


async def test_stream_of_50_mb_in_64_kb_chunks_stays_small() -> None:
    big = BigFile()
    tracemalloc.start()
    try:
        report = await validate_stream(big.chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert big.bytes > 50_000_000
    assert big.cuts_mid_line > 500 and big.cuts_mid_char > 100
    assert peak < 20_000_000

    stats = report.stats
    assert stats.bytes == big.bytes
    assert stats.lines == 12_000 and stats.blank_lines == 2
    assert stats.examples == 11_998 and stats.valid_examples == 11_993
    assert stats.duplicate_examples == 10 and stats.messages == 3 * 11_998
    assert report.error_count == 5 and report.warning_count == 12
    assert where(report, "unknown_role") == [
        (n, "messages[1].role") for n in (1250, 3750, 6250, 8750, 11250)
    ]
    assert where(report, "blank_line") == [(5000, None), (10000, None)]
    duplicates = report.summary("duplicate_example")
    assert duplicates is not None and duplicates.count == 10
    assert [(f.line, f.message) for f in duplicates.examples] == [
        (n, f"exact duplicate of the example on line {n - 1}")
        for n in (1000, 2000, 3000, 4000, 6000)
    ]
