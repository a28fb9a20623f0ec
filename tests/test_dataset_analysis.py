"""Dataset analysis: token counts, statistics, epochs, cost cap, PII, datasheet policy.

Nothing here may reach the network: the encodings are the vendored files, and the first
test loads them with an empty TIKTOKEN_CACHE_DIR and sockets disabled.
"""

from __future__ import annotations

import json
import math
import random
import socket
from pathlib import Path
from typing import Any

import pytest
import tiktoken
import tiktoken_ext.openai_public as openai_public

from activities.datasets import tokens
from activities.datasets.analysis import DatasetAnalysis, analyze_dataset
from activities.datasets.cost import check_cost_limit, estimate_cost
from activities.datasets.pii import PiiScanner, find_pii, luhn_valid
from activities.datasets.policy import (
    DatasheetPolicy,
    PolicyFileError,
    check_datasheet_policy,
    load_policy_file,
    policy_for_tenant,
)
from activities.datasets.token_stats import (
    QuantileSketch,
    TokenStats,
    auto_epochs,
    per_example_token_limit,
)
from activities.datasets.tokens import (
    TokenCounter,
    count_example_tokens,
    encoding_name_for_model,
    example_texts,
    load_encoding,
)
from core.pricing import training_price_per_million
from core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DATASHEET = {"source": "curriculum_team", "license": "proprietary", "redaction": "none"}

# ---- helpers -------------------------------------------------------------------------------


def chat(i: int, words: int = 5) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are a patient tutor."},
            {"role": "user", "content": f"Question {i}: " + "why " * words},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }


def write_jsonl(path: Path, examples: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    return path


def analyze(
    path: Path,
    *,
    base_model: str = "gpt-4o-mini-2024-07-18",
    datasheet: dict[str, Any] | None = None,
    tenant_id: str = "tenant_123",
    restrictions: dict[str, Any] | None = None,
    n_epochs: int | None = None,
    settings: Settings | None = None,
    fmt: str = "chat",
) -> DatasetAnalysis:
    return analyze_dataset(
        path,
        fmt=fmt,  # type: ignore[arg-type]
        base_model=base_model,
        datasheet=DATASHEET if datasheet is None else datasheet,
        tenant_id=tenant_id,
        restrictions=restrictions or {},
        n_epochs=n_epochs,
        settings=settings or Settings(_env_file=None),  # type: ignore[call-arg]
    )


def cookbook_count(encoding: tiktoken.Encoding, messages: list[dict[str, Any]]) -> int:
    """OpenAI cookbook's num_tokens_from_messages, verbatim in substance."""
    total = 0
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(encoding.encode(value))
            if key == "name":
                total += 1
    return total + 3


# ---- encodings -----------------------------------------------------------------------------


def test_vendored_encodings_load_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))

    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    load_encoding.cache_clear()
    o200k = load_encoding("o200k_base")
    cl100k = load_encoding("cl100k_base")
    assert o200k.encode_ordinary("hello world") == [24912, 2375]
    assert cl100k.encode_ordinary("hello world") == [15339, 1917]
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "o200k", "cl100k"),
    [
        ("The quick brown fox jumps over the lazy dog.", 10, 10),
        ("naïve café — 東京 🚀", 8, 11),
        ("  multiple   spaces\n\nnewlines\t", 8, 8),
        ("x = 12345678 + 3.14159", 12, 12),
        ("<|endoftext|>", 7, 7),  # special-token text in data counts as plain text
    ],
)
def test_exact_token_counts(text: str, o200k: int, cl100k: int) -> None:
    assert len(load_encoding("o200k_base").encode_ordinary(text)) == o200k
    assert len(load_encoding("cl100k_base").encode_ordinary(text)) == cl100k


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_specs_match_installed_tiktoken(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pattern, special tokens and file hash are the ones tiktoken itself pins."""
    seen: dict[str, str | None] = {}

    def fake_load(url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        seen["url"], seen["hash"] = url, expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    upstream = openai_public.ENCODING_CONSTRUCTORS[name]()
    spec = tokens.ENCODINGS[name]  # type: ignore[index]
    assert spec.pat_str == upstream["pat_str"]
    assert spec.special_tokens == upstream["special_tokens"]
    assert spec.sha256 == seen["hash"]
    assert seen["url"].endswith(f"/{name}.tiktoken")  # type: ignore[union-attr]


def test_tampered_encoding_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "cl100k_base.tiktoken").write_bytes(b"aGVsbG8= 0\n")
    with pytest.raises(tokens.EncodingFileError, match="sha256"):
        load_encoding("cl100k_base", tmp_path)
    with pytest.raises(tokens.EncodingFileError, match="neither"):
        load_encoding("o200k_base", tmp_path)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4.1-2025-04-14", "o200k_base"),
        ("gpt-4.1-nano-2025-04-14", "o200k_base"),
        ("o4-mini-2025-04-16", "o200k_base"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123", "o200k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("ft:gpt-3.5-turbo-1106:acme::x", "cl100k_base"),
        ("some-future-model", "o200k_base"),
    ],
)
def test_encoding_per_model(model: str, encoding: str) -> None:
    assert encoding_name_for_model(model) == encoding


def test_example_count_follows_cookbook() -> None:
    messages = [
        {"role": "system", "content": "You are a tutor."},
        {"role": "user", "content": "What is 2+2?", "name": "kid"},
        {"role": "assistant", "content": "4"},
    ]
    for name in ("o200k_base", "cl100k_base"):
        encoding = load_encoding(name)  # type: ignore[arg-type]
        expected = cookbook_count(encoding, messages)
        assert count_example_tokens(encoding, {"messages": messages}, "chat") == expected == 30
    # weight is a flag, not text
    weighted = [*messages[:2], {"role": "assistant", "content": "4", "weight": 1}]
    assert count_example_tokens(load_encoding("o200k_base"), {"messages": weighted}, "chat") == 30


def test_rough_parts_are_counted() -> None:
    encoding = load_encoding("o200k_base")
    call = {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a":1}'}}
    example = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Add"}, image_part()]},
            {"role": "assistant", "tool_calls": [call]},
        ],
        "tools": [{"type": "function", "function": {"name": "add"}}],
    }
    parts = example_texts(example, "chat")
    assert "add" in parts.texts and '{"a":1}' in parts.texts and "Add" in parts.texts
    assert any(t.startswith('[{"type":"function"') for t in parts.texts)
    assert parts.fixed_tokens == 2 * 3 + tokens.TOKENS_PER_IMAGE + 3
    assert count_example_tokens(encoding, example, "chat") > parts.fixed_tokens


def image_part() -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}


def test_dpo_counts_input_and_both_outputs() -> None:
    encoding = load_encoding("o200k_base")
    example = {
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
    }
    expected = (
        3
        + 1
        + 1  # user: "user", "Hi"
        + 3
        + 1
        + len(encoding.encode("Hello!"))
        + 3
        + 3
        + 1
        + len(encoding.encode("Go away."))
        + 3
    )
    assert count_example_tokens(encoding, example, "dpo") == expected


def test_token_counter_memo_is_exact_and_bounded() -> None:
    encoding = load_encoding("o200k_base")
    counter = TokenCounter(encoding, memo_entries=8, memo_chars=40)
    rng = random.Random(5)
    examples = [chat(i, words=rng.randint(0, 30)) for i in range(200)]
    for example in examples:
        expected = count_example_tokens(encoding, example, "chat")
        assert counter.count(example_texts(example, "chat")) == expected
    assert len(counter._memo) == 8
    assert all(len(text) <= 40 for text in counter._memo)


# ---- statistics ----------------------------------------------------------------------------


def nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_sketch_percentiles_within_stated_error() -> None:
    rng = random.Random(3)
    values = [int(rng.lognormvariate(7, 1.2)) for _ in range(20_000)]
    sketch = QuantileSketch()
    for v in values:
        sketch.add(v)
    for q in (0.0, 0.1, 0.5, 0.9, 0.99, 1.0):
        true = nearest_rank(values, q)
        got = sketch.quantile(q)
        assert got is not None
        assert abs(got - true) <= max(1, true * sketch.relative_error), (q, got, true)
    assert sketch.buckets < 3000
    small = QuantileSketch()
    for v in [5, 1, 9, 3, 7]:
        small.add(v)
    assert [small.quantile(q) for q in (0.1, 0.5, 0.9)] == [1, 5, 9]


def test_stats_on_generated_dataset(tmp_path: Path) -> None:
    rng = random.Random(11)
    examples = [chat(i, words=rng.randint(0, 400)) for i in range(1, 1201)]
    path = write_jsonl(tmp_path / "data.jsonl", examples)
    encoding = load_encoding("o200k_base")
    counts = [count_example_tokens(encoding, e, "chat") for e in examples]

    result = analyze(path, n_epochs=2)

    assert result.ok, result.errors_text()
    stats = result.tokens
    assert stats.encoding == "o200k_base"
    assert stats.examples == 1200
    assert result.report.stats.messages == 3600
    assert stats.tokens == stats.billable_tokens == sum(counts)
    assert (stats.min_tokens, stats.max_tokens) == (min(counts), max(counts))
    assert stats.mean_tokens == round(sum(counts) / len(counts), 2)
    for q, got in ((0.1, stats.p10_tokens), (0.5, stats.p50_tokens), (0.9, stats.p90_tokens)):
        true = nearest_rank(counts, q)
        assert got is not None and abs(got - true) <= max(1, true * 0.005)
    assert result.cost.epochs == 2 and result.cost.epochs_source == "explicit"
    assert result.cost.training_tokens == 2 * sum(counts)
    assert result.cost.cost_usd == pytest.approx(2 * sum(counts) * 3.00 / 1e6)


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (1, 25),
        (4, 25),  # ceil(100/4) = 25
        (5, 20),
        (33, 4),  # 99 examples seen at 3 epochs: round up to reach 100
        (34, 3),
        (8333, 3),  # 24,999 seen
        (8334, 2),  # 25,002 seen: 25000 // 8334
        (12_500, 2),
        (12_501, 1),
        (1_000_000, 1),
    ],
)
def test_auto_epochs_boundaries(n: int, epochs: int) -> None:
    assert auto_epochs(n) == epochs


def test_token_limits_and_prices_cover_fine_tunable_models() -> None:
    for model in ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14"):
        assert per_example_token_limit(model) == 65_536
        assert training_price_per_million(model) is not None
    assert per_example_token_limit("gpt-3.5-turbo-0125") == 16_385
    assert per_example_token_limit("gpt-3.5-turbo-0613") == 4_096
    assert training_price_per_million("gpt-4.1-mini-2025-04-14") == 5.00
    assert training_price_per_million("gpt-3.5-turbo-0125") == 8.00
    assert training_price_per_million("ft:gpt-4o-mini-2024-07-18:acme::x") == 3.00


def test_example_too_long(tmp_path: Path) -> None:
    examples = [chat(i) for i in range(1, 13)]
    examples[4]["messages"][1]["content"] = " why" * 17_000  # line 5
    examples[8]["messages"][2]["content"] = " why" * 20_000  # line 9
    path = write_jsonl(tmp_path / "long.jsonl", examples)

    result = analyze(path, base_model="gpt-3.5-turbo-0125")

    assert not result.ok
    summary = next(s for s in result.findings if s.kind == "example_too_long")
    assert summary.severity == "error" and summary.count == 2
    assert [f.line for f in summary.examples] == [5, 9]
    assert "16385" in summary.examples[0].message
    stats = result.tokens
    assert stats.too_long_examples == 2 and stats.max_tokens is not None
    assert stats.max_tokens > 20_000
    short = stats.tokens - sum(e.tokens for e in stats.too_long)
    assert stats.billable_tokens == short + 2 * 16_385
    assert "line 5:" in result.errors_text()
    # The same file fits gpt-4o's 65,536 limit.
    assert analyze(path).ok


# ---- cost cap ------------------------------------------------------------------------------


def stats_with(billable: int, examples: int) -> TokenStats:
    return TokenStats(
        encoding="o200k_base",
        examples=examples,
        tokens=billable,
        percentile_relative_error=0.005,
        token_limit=65_536,
        too_long_examples=0,
        too_long=[],
        billable_tokens=billable,
    )


def test_cost_limit_refuses_expensive_job(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [chat(i, words=50) for i in range(1, 21)])
    cheap = analyze(path, restrictions={"max_cost_usd": 10.0})
    assert cheap.ok and cheap.cost.epochs == 5  # 20 examples: ceil(100 / 20)
    cost = cheap.cost.cost_usd
    assert cost is not None and 0 < cost < 10

    refused = analyze(path, restrictions={"max_cost_usd": cost / 2})
    assert not refused.ok
    finding = refused.findings[0].examples[0]
    assert finding.kind == "cost_limit_exceeded"
    assert f"{cost:.2f} USD" in finding.message and f"{cost / 2:.2f} USD" in finding.message
    assert "cost_limit_exceeded" in refused.errors_text()


def test_cost_limit_edge_cases() -> None:
    estimate = estimate_cost("gpt-4o-2024-08-06", stats_with(1_000_000, 100), None)
    assert estimate.epochs == 3 and estimate.cost_usd == 75.0
    assert check_cost_limit(estimate, {}) == []
    assert check_cost_limit(estimate, {"max_cost_usd": 75}) == []
    assert check_cost_limit(estimate, {"max_cost_usd": "lots"})[0].kind == "invalid_restriction"
    assert check_cost_limit(estimate, {"max_cost_usd": True})[0].kind == "invalid_restriction"
    unpriced = estimate_cost("o4-mini-2025-04-16", stats_with(1000, 10), 1)
    assert unpriced.cost_usd is None
    assert check_cost_limit(unpriced, {"max_cost_usd": 1})[0].kind == "cost_unknown"
    empty = estimate_cost("gpt-4o-2024-08-06", stats_with(0, 0), None)
    assert empty.epochs is None and empty.cost_usd == 0.0


# ---- PII -----------------------------------------------------------------------------------

PII_VALUES = {
    "email": "jane.doe+k12@school.example.org",
    "phone": "(415) 555-2671",
    "ssn": "123-45-6789",
    "payment_card": "4111 1111 1111 1111",
}


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("41111111a1111111")
    assert not luhn_valid("")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"Write to {PII_VALUES['email']} today", {"email": 1}),
        (f"Call {PII_VALUES['phone']} or +44 20 7946 0958", {"phone": 2}),
        ("Her cell is 555-290-6643.", {"phone": 1}),  # unassigned range, phone-shaped
        (f"SSN {PII_VALUES['ssn']}", {"ssn": 1}),
        (f"card {PII_VALUES['payment_card']}", {"payment_card": 1}),
        ("card 4111 1111 1111 1112 fails Luhn", {}),
        ("SSN 000-12-3456 is never issued", {}),
        ("The answer is 1234567 apples; pi is 3.14159265", {}),
        ("dates 2024-01-15 to 2024-06-30, ISBN 978-3-16-148410-0", {}),
        ("no at sign here, just x@y", {}),
    ],
)
def test_pii_kinds(text: str, found: dict[str, int]) -> None:
    assert find_pii(text) == found


def test_pii_counts_lines_and_no_values(tmp_path: Path) -> None:
    examples = [chat(i) for i in range(1, 16)]
    places = {2: "email", 5: "phone", 7: "ssn", 9: "payment_card", 12: "email"}
    for line, kind in places.items():
        examples[line - 1]["messages"][1]["content"] = f"Mine is {PII_VALUES[kind]}, ok?"
    examples[13]["messages"][2]["content"] = "card 4111 1111 1111 1112 is not one"  # line 14
    path = write_jsonl(tmp_path / "pii.jsonl", examples)

    claimed = analyze(path, datasheet={**DATASHEET, "redaction": "pii_removed"})

    assert not claimed.ok
    kinds = {k.kind: (k.count, k.lines) for k in claimed.pii.kinds}
    assert kinds == {
        "email": (2, [2, 12]),
        "phone": (1, [5]),
        "ssn": (1, [7]),
        "payment_card": (1, [9]),
    }
    assert claimed.pii.examples_with_pii == 5
    finding = next(s for s in claimed.findings if s.kind == "pii_found")
    assert finding.severity == "error"
    assert "2 e-mail address(es)" in finding.examples[0].message
    assert "2, 5, 7, 9, 12" in finding.examples[0].message

    serialized = claimed.model_dump_json() + claimed.errors_text(50)
    for value in PII_VALUES.values():
        assert value not in serialized
        assert value.replace(" ", "") not in serialized

    unclaimed = analyze(path)
    assert unclaimed.ok
    assert next(s for s in unclaimed.findings if s.kind == "pii_found").severity == "warning"


def test_pii_scanner_keeps_first_lines_only() -> None:
    scanner = PiiScanner(lines_kept=3)
    for line in range(1, 11):
        scanner.scan(["hello", f"mail me: kid{line}@example.com"], line)
    summary = scanner.finish()
    assert summary.kinds[0].count == 10 and summary.kinds[0].lines == [1, 2, 3]


# ---- datasheet policy ----------------------------------------------------------------------

POLICY_YAML = """
default:
  allowed_licenses: [proprietary, CC-BY-4.0]
  allowed_sources: [curriculum_team, "vendor:*"]
  required_fields: [description]
tenants:
  tenant_a:
    allowed_licenses: [MIT]
    required_fields: [consent_reference]
"""


def test_policy_file_per_tenant(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY_YAML, encoding="utf-8")
    default = policy_for_tenant(policy_file, "someone_else")
    tenant = policy_for_tenant(policy_file, "tenant_a")
    assert default.allowed_licenses == ["proprietary", "CC-BY-4.0"]
    assert tenant.allowed_licenses == ["MIT"]
    assert tenant.allowed_sources == ["curriculum_team", "vendor:*"]
    assert tenant.required_fields == ["description", "consent_reference"]

    sheet = {**DATASHEET, "source": "Vendor:Acme", "description": "tutoring"}
    assert check_datasheet_policy(sheet, default) == []
    findings = check_datasheet_policy(sheet, tenant)
    assert {(f.kind, f.field) for f in findings} == {
        ("license_not_allowed", "license"),
        ("missing_datasheet_field", "consent_reference"),
    }
    assert all(f.message.startswith(f"datasheet.{f.field} ") for f in findings)

    blank = {"source": " ", "license": "GPL-3.0", "redaction": "none", "description": ""}
    kinds = {(f.kind, f.field) for f in check_datasheet_policy(blank, default)}
    assert kinds == {
        ("missing_datasheet_field", "source"),
        ("license_not_allowed", "license"),
        ("missing_datasheet_field", "description"),
    }


def test_policy_applies_in_analysis(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(POLICY_YAML, encoding="utf-8")
    path = write_jsonl(tmp_path / "d.jsonl", [chat(i) for i in range(1, 13)])
    settings = Settings(_env_file=None, dataset_policy_file=policy_file)  # type: ignore[call-arg]
    sheet = {**DATASHEET, "description": "tutoring", "size": 11}
    result = analyze(path, settings=settings, tenant_id="tenant_a", datasheet=sheet)
    assert not result.ok
    assert {f.kind for f in result.datasheet} == {
        "license_not_allowed",
        "missing_datasheet_field",
        "datasheet_size_mismatch",
    }
    assert "datasheet.license" in result.errors_text(10)


def test_shipped_example_policy_accepts_example_job() -> None:
    policy = load_policy_file(REPO / "examples" / "dataset-policy.yaml")
    job = json.loads((REPO / "examples" / "job.json").read_text(encoding="utf-8"))
    tenant = policy.for_tenant(job["policy"]["scope"])
    assert check_datasheet_policy(job["datasheet"], tenant) == []
    assert check_datasheet_policy(job["datasheet"], policy.for_tenant("district_42")) != []


def test_bad_policy_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("default:\n  allowed_licences: [MIT]\n", encoding="utf-8")
    with pytest.raises(PolicyFileError, match="allowed_licences"):
        load_policy_file(bad)
    with pytest.raises(PolicyFileError):
        load_policy_file(tmp_path / "missing.yaml")
    assert policy_for_tenant(None, "t") == DatasheetPolicy()
