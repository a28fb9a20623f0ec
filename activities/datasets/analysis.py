"""Everything the validate step learns about a dataset, in one pass over the file.

The streaming validator reads the file; for each valid example its hook collects the texts
once and hands them to the PII scanner and the token counter. Afterwards come the checks
that need the totals: examples over the model's token limit, the cost estimate against the
policy cap, PII against the datasheet's claim, the declared size. How tokens are counted,
the limit and the cost come from the dataset rules of the job's provider and base model
(rules.py). Nothing is kept per
example beyond the validator's duplicate hashes (12-24 bytes per record), so memory is
bounded by the longest line.

Synchronous and CPU-bound: the activity runs it in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from activities.datasets.chat_template import ChatTemplateFailed
from activities.datasets.cost import CostEstimate, check_cost_limit
from activities.datasets.datasheet import check_datasheet_against_stats
from activities.datasets.hidden_texts import texts_outside_the_schema
from activities.datasets.masking import safe_text
from activities.datasets.pii import PiiScanner, PiiSummary, check_pii_claim
from activities.datasets.policy import check_datasheet_policy, policy_for_tenant
from activities.datasets.report import (
    DatasetFormat,
    Finding,
    FindingCollector,
    FindingSummary,
    ValidationReport,
    error,
    warning,
)
from activities.datasets.rules import DatasetRules, dataset_rules
from activities.datasets.token_stats import (
    DEFAULT_PER_EXAMPLE_TOKEN_LIMIT,
    TokenStats,
    TokenStatsCollector,
)
from activities.datasets.tokens import example_texts
from activities.datasets.validator import validate_chunks
from core.models import Provider
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
        " chat_template_failed, cost, pii_found"
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
    provider: Provider | str = Provider.openai,
    max_seq_length: int | None = None,
    rules: DatasetRules | None = None,
) -> DatasetAnalysis:
    """`also` sees every valid example too (e.g. to fingerprint prompts in the same pass).

    `rules` (else those of `provider` and `base_model`, with the job's `max_seq_length`)
    count the tokens, set the per-example limit and price the run; building them may raise
    `RulesUnavailable`.
    """
    if rules is None:
        rules = dataset_rules(provider, base_model, settings, max_seq_length=max_seq_length)
    lines_kept = settings.dataset_report_lines_per_kind
    policy = policy_for_tenant(settings.dataset_policy_file, tenant_id)
    collector = TokenStatsCollector(rules.tokenizer_name, rules.token_limit, lines_kept=lines_kept)
    pii = PiiScanner(region=settings.dataset_pii_phone_region, lines_kept=lines_kept)
    counter = rules.counter(fmt)
    unrenderable = FindingCollector(lines_kept)

    def on_example(example: dict[str, Any], line_no: int) -> None:
        parts = example_texts(example, fmt)
        pii.scan([*parts.texts, *texts_outside_the_schema(example)], line_no)
        try:
            counted = counter.count(example, parts)
        except ChatTemplateFailed as err:
            # The trainer renders the same template, so it would fail on this example too.
            unrenderable.add(error("chat_template_failed", safe_text(str(err)), line=line_no))
        else:
            collector.add(
                line_no, counted.tokens, longest=counted.longest, assistant=counted.assistant
            )
        if also is not None:
            also(example)

    with path.open("rb") as handle:
        chunks = iter(lambda: handle.read(CHUNK_BYTES), b"")
        report = validate_chunks(chunks, fmt, on_example=on_example)

    tokens = collector.finish()
    cost = rules.estimate_cost(tokens, n_epochs)
    pii_summary = pii.finish()
    sheet = check_datasheet_policy(datasheet, policy)
    sheet += check_datasheet_against_stats(datasheet, report.stats)
    findings = [
        *_too_long_summary(tokens, base_model),
        *([] if rules.limit_known else _summaries([_limit_unknown(base_model)])),
        *unrenderable.summaries("error"),
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
