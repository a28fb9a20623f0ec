"""Everything the validate step learns about a dataset, in one pass over the file.

The streaming validator reads the file; for each valid example its hook collects the texts
once and hands them to the PII scanner and the token counter. Afterwards come the checks
that need the totals: examples over the model's token limit, the cost estimate against the
policy cap, PII against the datasheet's claim, the declared size. Nothing is kept per
example beyond the validator's duplicate hashes (12-24 bytes per record), so memory is
bounded by the longest line.

Synchronous and CPU-bound: the activity runs it in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from activities.datasets.cost import CostEstimate, check_cost_limit, estimate_cost
from activities.datasets.datasheet import check_datasheet_against_stats
from activities.datasets.hidden_texts import texts_outside_the_schema
from activities.datasets.masking import safe_text
from activities.datasets.pii import PiiScanner, PiiSummary, check_pii_claim
from activities.datasets.policy import check_datasheet_policy, policy_for_tenant
from activities.datasets.report import (
    DatasetFormat,
    Finding,
    FindingSummary,
    ValidationReport,
    error,
    warning,
)
from activities.datasets.token_stats import (
    DEFAULT_PER_EXAMPLE_TOKEN_LIMIT,
    TokenStats,
    TokenStatsCollector,
    per_example_token_limit,
)
from activities.datasets.tokens import TokenCounter, encoding_for_model, example_texts
from activities.datasets.validator import validate_chunks
from core.settings import Settings

CHUNK_BYTES = 1024 * 1024


class DatasetAnalysis(BaseModel):
    """The validation report plus statistics, cost, PII summary and datasheet findings.

    Safe to store and show: it carries counts, line numbers and field names, never the
    data's content.
    """

    ok: bool
    base_model: str
    report: ValidationReport
    tokens: TokenStats
    cost: CostEstimate
    pii: PiiSummary
    datasheet: list[Finding] = Field(description="datasheet and tenant-policy findings")
    findings: list[FindingSummary] = Field(
        description="findings over the whole file: example_too_long, token_limit_unknown,"
        " cost, pii_found"
    )

    @property
    def error_count(self) -> int:
        own = sum(s.count for s in self.findings if s.severity == "error")
        return self.report.error_count + own + sum(f.severity == "error" for f in self.datasheet)

    def errors_text(self, limit: int = 5) -> str:
        """Up to `limit` errors, file- and datasheet-level first, then by line."""
        kept = [f for f in self.datasheet if f.severity == "error"]
        for summary in (*self.findings, *self.report.errors):
            if summary.severity == "error":
                kept.extend(summary.examples)
        kept.sort(key=lambda f: -1 if f.line is None else f.line)
        rendered = [f.render() for f in kept[:limit]]
        hidden = self.error_count - len(rendered)
        if hidden > 0:
            rendered.append(f"... and {hidden} more error(s)")
        return "\n".join(rendered)


def analyze_dataset(
    path: Path,
    *,
    fmt: DatasetFormat,
    base_model: str,
    datasheet: Mapping[str, Any] | None,
    tenant_id: str,
    restrictions: Mapping[str, Any],
    n_epochs: int | None,
    settings: Settings,
    also: Callable[[dict[str, Any]], None] | None = None,
) -> DatasetAnalysis:
    """`also` sees every valid example too (e.g. to fingerprint prompts in the same pass)."""
    lines_kept = settings.dataset_report_lines_per_kind
    policy = policy_for_tenant(settings.dataset_policy_file, tenant_id)
    encoding = encoding_for_model(base_model, settings.dataset_encodings_dir)
    known_limit = per_example_token_limit(base_model)
    limit = known_limit or DEFAULT_PER_EXAMPLE_TOKEN_LIMIT
    collector = TokenStatsCollector(encoding.name, limit, lines_kept=lines_kept)
    pii = PiiScanner(region=settings.dataset_pii_phone_region, lines_kept=lines_kept)
    counter = TokenCounter(encoding)

    def on_example(example: dict[str, Any], line_no: int) -> None:
        parts = example_texts(example, fmt)
        pii.scan([*parts.texts, *texts_outside_the_schema(example)], line_no)
        collector.add(line_no, counter.count(parts))
        if also is not None:
            also(example)

    with path.open("rb") as handle:
        chunks = iter(lambda: handle.read(CHUNK_BYTES), b"")
        report = validate_chunks(chunks, fmt, on_example=on_example)

    tokens = collector.finish()
    cost = estimate_cost(base_model, tokens, n_epochs)
    pii_summary = pii.finish()
    sheet = check_datasheet_policy(datasheet, policy)
    sheet += check_datasheet_against_stats(datasheet, report.stats)
    findings = [
        *_too_long_summary(tokens, base_model),
        *([] if known_limit else _summaries([_limit_unknown(base_model)])),
        *_summaries(check_cost_limit(cost, restrictions)),
        *_summaries(check_pii_claim(pii_summary, datasheet)),
    ]
    ok = (
        report.ok
        and not any(f.severity == "error" for f in sheet)
        and not any(s.severity == "error" for s in findings)
    )
    return DatasetAnalysis(
        ok=ok,
        base_model=base_model,
        report=report,
        tokens=tokens,
        cost=cost,
        pii=pii_summary,
        datasheet=sheet,
        findings=findings,
    )


def _limit_unknown(base_model: str) -> Finding:
    return warning(
        "token_limit_unknown",
        f"the per-example token limit of base model {safe_text(base_model)[:80]!r} is unknown;"
        f" examples are checked against a conservative {DEFAULT_PER_EXAMPLE_TOKEN_LIMIT} tokens",
    )


def _too_long_summary(tokens: TokenStats, base_model: str) -> list[FindingSummary]:
    if not tokens.too_long_examples:
        return []
    examples = [
        error(
            "example_too_long",
            f"example has {e.tokens} tokens; {safe_text(base_model)[:80]} trains on at most"
            f" {tokens.token_limit} per example",
            line=e.line,
        )
        for e in tokens.too_long
    ]
    return [
        FindingSummary(
            kind="example_too_long",
            severity="error",
            count=tokens.too_long_examples,
            examples=examples,
        )
    ]


def _summaries(findings: list[Finding]) -> list[FindingSummary]:
    return [
        FindingSummary(kind=f.kind, severity=f.severity, count=1, examples=[f]) for f in findings
    ]
