"""The validator on hostile files: bounded memory, no crash, no echo, fast PII scan, and
dataset URIs that fail at once without a server path. Unit tests first, then the stack."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import phonenumbers
import pytest
from phonenumbers import phonenumbermatcher
from temporalio.exceptions import ApplicationError

import activities.datasets.step as step
from activities.datasets.analysis import analyze_dataset
from activities.datasets.local import resolve_local_path
from activities.datasets.pii import find_pii
from activities.datasets.report import ValidationReport
from activities.datasets.structure import MAX_NESTING_DEPTH
from activities.datasets.token_stats import DEFAULT_PER_EXAMPLE_TOKEN_LIMIT
from activities.datasets.validator import validate_lines
from activities.evaluation.contamination import TrainingFingerprints
from core.dataset_uri import DatasetUriError
from core.settings import Settings
from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job

Example = dict[str, Any]


def chat(i: int) -> Example:
    return {
        "messages": [
            {"role": "system", "content": "You are a patient tutor."},
            {"role": "user", "content": f"Question {i}?"},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }


def line(example: Any) -> bytes:
    return json.dumps(example).encode() + b"\n"


def with_line(bad: bytes, *, at: int = 3, total: int = 12) -> list[bytes]:
    """`total` distinct valid lines with line `at` replaced by `bad`."""
    return [bad if n == at else line(chat(n)) for n in range(1, total + 1)]


def where(report: ValidationReport, kind: str) -> list[int | None]:
    summary = report.summary(kind)
    return [] if summary is None else [f.line for f in summary.examples]


def report_text(report: ValidationReport) -> str:
    return report.model_dump_json()


def analyse(
    tmp_path: Path,
    lines: list[bytes],
    *,
    base_model: str = "gpt-4o-mini-2024-07-18",
    datasheet: Example | None = None,
    also: Callable[[Example], None] | None = None,
) -> Any:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b"".join(lines))
    return analyze_dataset(
        path,
        fmt="chat",
        base_model=base_model,
        datasheet=datasheet,
        tenant_id="tenant_123",
        restrictions={},
        n_epochs=3,
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        also=also,
    )


def nested_parameters(depth: int) -> bytes:
    schema = '{"type":"object"}'
    for _ in range(depth):
        schema = '{"type":"object","properties":{"x":' + schema + "}}"
    head = json.dumps(chat(99))[:-1]
    tools = '"tools":[{"type":"function","function":{"name":"f","parameters":' + schema + "}}]"
    return f"{head},{tools}}}\n".encode()


# ---- memory ---------------------------------------------------------------------------------


def test_a_line_of_many_findings_keeps_memory_flat() -> None:
    # 128 KiB: 44,000 empty messages, two findings each (missing role and content). Before
    # the cap every finding was kept: ~120 MB here, 966 MB for 1 MiB (bench/README-validator).
    empties = 44_000
    hostile = b'{"messages":[' + b"{}," * empties + b'{"role":"assistant","content":"x"}]}\n'
    lines = with_line(hostile)
    tracemalloc.start()
    try:
        report = validate_lines(lines)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # The parsed line is ~33 bytes per byte of empty dicts; findings add nothing that grows.
    assert peak < 64 * len(hostile), f"peak {peak / 1e6:.0f} MB for a {len(hostile)} B line"
    roles = report.summary("missing_role")
    assert roles is not None and roles.count == empties
    assert len(roles.examples) <= 5
    assert roles.examples[-1].message.endswith(f"(and {empties - 5} more like it on this line)")
    assert report.error_count == 2 * empties
    assert len(report_text(report)) < 20_000


# ---- recursion ------------------------------------------------------------------------------


def test_deep_tool_parameters_are_a_finding_not_a_crash(tmp_path: Path) -> None:
    lines = with_line(nested_parameters(490), at=4)  # 980 levels of objects
    lines[6] = nested_parameters(MAX_NESTING_DEPTH)  # just over the limit

    analysis = analyse(tmp_path, lines)

    report = analysis.report
    assert where(report, "too_deeply_nested") == [4, 7]
    finding = report.summary("too_deeply_nested").examples[0]  # type: ignore[union-attr]
    assert f"more than {MAX_NESTING_DEPTH} levels deep" in finding.message
    assert analysis.tokens.examples == 10  # the other lines were counted as usual
    within = validate_lines(with_line(nested_parameters(MAX_NESTING_DEPTH // 2 - 3)))
    assert within.ok, within.first_errors_text()


# ---- lone surrogates and NUL ----------------------------------------------------------------


def test_lone_surrogates_and_nul_keys_are_findings_on_their_line(tmp_path: Path) -> None:
    in_content = b'{"messages":[{"role":"user","content":"hi \\ud800"},' + (
        b'{"role":"assistant","content":"ok"}]}\n'
    )
    as_key = b'{"messages":[{"role":"user","content":"hi","\\udc00":1},' + (
        b'{"role":"assistant","content":"ok"}]}\n'
    )
    nul_key = b'{"messages":[{"role":"user","content":"hi","a\\u0000b":1},' + (
        b'{"role":"assistant","content":"ok"}]}\n'
    )
    lines = with_line(in_content, at=2)
    lines[4] = as_key
    lines[8] = nul_key
    prompts = TrainingFingerprints()

    analysis = analyse(tmp_path, lines, also=prompts.add_example)  # fingerprints: no crash

    report = analysis.report
    assert where(report, "invalid_unicode") == [2, 5]
    assert where(report, "unknown_message_key") == [9]
    assert len(prompts) == 9  # the nine valid examples' user turns
    stored = analysis.model_dump_json().encode("utf-8")  # what jsonb and Temporal get
    assert b"\\u0000" not in stored and b"\\ud" not in stored.lower()
    emoji = b'{"messages":[{"role":"user","content":"hi \\ud83d\\ude00"},' + (
        b'{"role":"assistant","content":"ok"}]}\n'
    )
    assert validate_lines(with_line(emoji)).ok  # a valid pair is fine


def test_the_report_is_scrubbed_before_it_is_stored() -> None:
    from activities.datasets.masking import scrub

    dirty = {"a\x00": ["x\ud800", {"\udc00": "y\x00"}], "n": 1}
    clean = scrub(dirty)
    json.dumps(clean, ensure_ascii=False).encode("utf-8")  # no UnicodeEncodeError
    assert "\x00" not in json.dumps(clean)


# ---- echoed values --------------------------------------------------------------------------


def test_keys_roles_and_part_types_are_never_echoed() -> None:
    secret = "maria.lopez@example.org"

    def example(i: int, change: Callable[[Example], None]) -> bytes:
        value = chat(i)
        change(value)
        return line(value)

    lines = with_line(example(3, lambda e: e["messages"][1].update({secret: 1})))
    lines[4] = example(5, lambda e: e["messages"][1].update(role=secret))
    lines[5] = example(6, lambda e: e["messages"][1].update(content=[{"type": secret}]))
    lines[6] = example(7, lambda e: e.update({secret: "x"}))
    lines[7] = example(8, lambda e: e["messages"][1].update({"Content": "x"}))

    report = validate_lines(lines)

    assert where(report, "unknown_message_key") == [3, 8]
    assert where(report, "unknown_role") == [5]
    assert where(report, "invalid_content_type") == [6]
    assert where(report, "unknown_top_level_key") == [7]
    text = report_text(report)
    assert "maria" not in text and "example.org" not in text
    keys = report.summary("unknown_message_key")
    assert keys is not None
    assert "(not shown)" in keys.examples[0].message
    assert "did you mean 'content'?" in keys.examples[1].message


def test_pii_in_keys_counts_against_a_pii_removed_claim(tmp_path: Path) -> None:
    lines = with_line(line({**chat(3), "ada.lovelace@example.org": "note"}))
    analysis = analyse(tmp_path, lines, datasheet={"redaction": "pii_removed"})
    assert not analysis.ok
    assert [k.kind for k in analysis.pii.kinds] == ["email"]
    assert analysis.pii.kinds[0].lines == [3]
    assert "ada.lovelace" not in analysis.model_dump_json()


# ---- PII scan speed: linear work, same answers ------------------------------------------------


def test_ids_do_not_cost_a_phone_parse_each(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = 0
    real_parse = phonenumbermatcher.parse  # type: ignore[attr-defined]  # imported there, unstubbed

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        nonlocal parses
        parses += 1
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbermatcher, "parse", counting_parse)
    ids = " ".join(f"ticket Q{n:07d}" for n in range(1_000_000, 1_002_000))
    text = f"{ids} call (415) 555-2671 today"

    assert find_pii(text) == {"phone": 1}
    assert parses < 10  # one per real candidate, not one per id
    # Same answers as the library's own matcher on digit-heavy text.
    assert find_pii("call 3101234 now") == {"phone": 1}  # valid in CA, region US
    assert find_pii(" ".join(["123-45-6789"] * 3000)) == {"ssn": 3000}
    assert find_pii(" ".join(["4111 1111 1111 1111"] * 2000)) == {"payment_card": 2000}
    assert find_pii(" ".join(["2024-01-15 08:00"] * 2000)) == {}  # time stamps
    assert find_pii("Q1234567 Q7654321 and 1234567") == {}
    # The matcher internals the shortcut builds on (phonenumbers is pinned).
    for name in ("_extract_match", "_parse_and_verify", "_extract_inner_match"):
        assert callable(getattr(phonenumbers.PhoneNumberMatcher, name))
    for name in ("_SLASH_SEPARATED_DATES", "_TIME_STAMPS", "_TIME_STAMPS_SUFFIX"):
        assert hasattr(getattr(phonenumbermatcher, name), "search")


# ---- what users also expect ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        (gzip.compress(b"".join(with_line(line(chat(3))))), "gzip-compressed"),
        ("".join(json.dumps(chat(n)) + "\n" for n in range(12)).encode("utf-16"), "UTF-16"),
        ("".join(json.dumps(chat(n)) + "\n" for n in range(12)).encode("utf-16-le"), "UTF-16"),
        (json.dumps([chat(n) for n in range(12)]).encode() + b"\n", "one JSON array"),
        (json.dumps([chat(n) for n in range(12)], indent=2).encode(), "one JSON array"),
        (json.dumps(chat(1), indent=2).encode(), "pretty-printed"),
    ],
)
def test_files_that_are_not_json_lines_get_a_hint(data: bytes, hint: str) -> None:
    report = validate_lines(data.splitlines(keepends=True))
    summary = report.summary("not_json_lines")
    assert summary is not None and summary.count == 1
    assert hint in summary.examples[0].message
    assert report.first_errors_text().startswith(summary.examples[0].message)


def test_repeated_keys_warn_and_ordinary_lines_do_not() -> None:
    repeated = b'{"messages":[{"role":"user","content":"a","content":"b"},' + (
        b'{"role":"assistant","content":"ok"}]}\n'
    )
    tricky = chat(5)
    tricky["messages"][1]["content"] = 'say "x": y, and \\": too'
    lines = with_line(repeated)
    lines[4] = json.dumps(tricky, indent=None, separators=(", ", " : ")).encode() + b"\n"

    report = validate_lines(lines)

    assert where(report, "duplicate_key") == [3]
    assert "(not shown)" in report.summary("duplicate_key").examples[0].message  # type: ignore[union-attr]


def test_a_file_with_nothing_to_train_on_is_an_error() -> None:
    def untrained(i: int) -> Example:
        example = chat(i)
        example["messages"][2]["weight"] = 0
        return example

    report = validate_lines([line(untrained(n)) for n in range(12)])
    assert "nothing_to_train" in {s.kind for s in report.errors}
    assert not report.ok

    one_trained = [line(untrained(n)) for n in range(11)] + [line(chat(11))]
    assert "nothing_to_train" not in {s.kind for s in validate_lines(one_trained).errors}


def test_an_example_without_a_user_message_warns() -> None:
    no_user = {
        "messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]
    }
    report = validate_lines(with_line(line(no_user), at=6))
    assert where(report, "missing_user_message") == [6]
    assert report.ok


def test_an_unknown_base_model_gets_a_conservative_limit_and_a_warning(tmp_path: Path) -> None:
    long_reply = chat(3)
    long_reply["messages"][2]["content"] = "word " * (DEFAULT_PER_EXAMPLE_TOKEN_LIMIT + 100)

    analysis = analyse(tmp_path, with_line(line(long_reply)), base_model="mystery-model-1")

    assert analysis.tokens.token_limit == DEFAULT_PER_EXAMPLE_TOKEN_LIMIT
    kinds = {s.kind: s for s in analysis.findings}
    assert kinds["token_limit_unknown"].severity == "warning"
    assert "mystery-model-1" in kinds["token_limit_unknown"].examples[0].message
    assert kinds["example_too_long"].examples[0].line == 3
    assert "token_limit_unknown" not in {
        s.kind for s in analyse(tmp_path, with_line(line(chat(3)))).findings
    }


# ---- exceptions and paths --------------------------------------------------------------------


# Segments of 200 bytes and a URI under 4,096 characters, but past PATH_MAX with the root.
LONG_PATH = ("d" * 200 + "/") * 20 + "d" * 60 + "/x.jsonl"


def step_settings(root: Path) -> Settings:
    return Settings(_env_file=None, dataset_root=root)  # type: ignore[call-arg]


async def run_step(root: Path, uri: str, spool: Path) -> Any:
    return await step.fetch_and_analyse(
        spool / "spooled.jsonl",
        uri=uri,
        tenant_id="tenant_123",
        fmt="chat",
        base_model="gpt-4o-mini-2024-07-18",
        datasheet=None,
        restrictions={},
        n_epochs=3,
        settings=step_settings(root),
    )


async def test_an_exception_in_the_analysis_is_a_final_bug_without_a_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "ok.jsonl").write_bytes(b"".join(with_line(line(chat(3)))))

    def broken(path: Path, **_: Any) -> Any:
        raise KeyError(str(path))

    monkeypatch.setattr(step, "analyze_dataset", broken)
    with pytest.raises(ApplicationError) as caught:
        await run_step(root, "ok.jsonl", tmp_path)

    assert caught.value.type == "dataset_analysis_bug"
    assert caught.value.non_retryable
    assert "KeyError" in caught.value.message
    assert str(tmp_path) not in caught.value.message


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("0" * 300, "dataset_uri_invalid"),
        (LONG_PATH, "dataset_uri_invalid"),
        ("loop/x.jsonl", "dataset_not_found"),
        ("bad%00name.jsonl", "dataset_uri_invalid"),
        ("missing.jsonl", "dataset_not_found"),
    ],
)
async def test_bad_local_paths_fail_at_once_without_a_server_path(
    tmp_path: Path, uri: str, code: str
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "loop").symlink_to(root / "loop")

    with pytest.raises(DatasetUriError) as direct:
        resolve_local_path(uri, root)
    assert direct.value.code == code
    with pytest.raises(ApplicationError) as caught:
        await run_step(root, uri, tmp_path)

    assert caught.value.type == code and caught.value.non_retryable
    for message in (str(direct.value), caught.value.message):
        assert str(tmp_path) not in message and "Errno" not in message


# ---- through the real stack ------------------------------------------------------------------


def hostile_file() -> bytes:
    lines = with_line(nested_parameters(490), at=2, total=14)
    lines[4] = b'{"messages":[{"role":"user","content":"x","\\ud800":1},' + (
        b'{"role":"assistant","content":"ok"}]}\n'
    )
    lines[6] = line({"messages": [{"role": "user", "content": "hi", "maria@example.org": 1}]})
    lines[8] = b'{"messages":[' + b"{}," * 20_000 + b'{"role":"assistant","content":"x"}]}\n'
    lines[10] = (
        b'{"messages":[{"role":"user","content":"caf\\udc80"},{"role":"assistant","content":"ok"}]}\n'
    )
    return b"".join(lines)


def error_kinds(report: dict[str, Any]) -> dict[str, tuple[int, list[int]]]:
    return {
        e["kind"]: (e["count"], [f["line"] for f in e["examples"]])
        for e in report["dataset"]["errors"]
    }


async def test_a_hostile_file_fails_the_job_once_and_validate_agrees(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, dataset_root: Path
) -> None:
    (dataset_root / "hostile.jsonl").write_bytes(hostile_file())

    created = await submit(api, job_request(name="hostile", datasetUri="hostile.jsonl"))
    job = await wait_for_job(api, created["id"])
    checked = await api.post(
        "/trainer/datasets/validate",
        json={"datasetUri": "hostile.jsonl", "scope": "tenant_123"},
    )

    assert job["status"] == "failed" and job["errorCode"] == "dataset_invalid"
    assert job["retryCount"] == 0
    assert await provider_jobs_for(emulator, job["id"]) == []
    kinds = error_kinds(job["validation"])
    assert kinds["too_deeply_nested"] == (1, [2])
    assert kinds["invalid_unicode"] == (2, [5, 11])
    assert kinds["missing_role"][0] == 20_000
    assert checked.status_code == 200, checked.text
    assert checked.json()["ok"] is False
    assert error_kinds(checked.json()["report"]) == kinds
    assert "maria" not in json.dumps(job) + checked.text


async def test_impossible_dataset_paths_fail_at_once_without_a_server_path(
    api: httpx.AsyncClient, dataset_root: Path
) -> None:
    too_long = "0" * 300
    for refused in (
        await api.post("/trainer/jobs", json=job_request(datasetUri=too_long)),
        await api.post(
            "/trainer/datasets/validate", json={"datasetUri": too_long, "scope": "tenant_123"}
        ),
    ):
        assert refused.status_code == 422, refused.text
        assert refused.json()["error_code"] == "dataset_uri_invalid"

    # Only the file system can tell: a symlink loop inside the dataset root.
    (dataset_root / "loop.jsonl").symlink_to(dataset_root / "loop.jsonl")
    created = await submit(api, job_request(name="loop", datasetUri="loop.jsonl"))
    job = await wait_for_job(api, created["id"])
    checked = await api.post(
        "/trainer/datasets/validate", json={"datasetUri": "loop.jsonl", "scope": "tenant_123"}
    )

    assert job["status"] == "failed"
    assert job["errorCode"] == "dataset_not_found"
    assert job["retryCount"] == 0
    assert checked.status_code == 404
    assert str(dataset_root) not in json.dumps(job) + checked.text
