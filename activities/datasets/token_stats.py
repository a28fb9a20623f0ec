"""Running token statistics over a dataset, in memory that does not grow with the file.

Min, max, sum and counts are exact. Percentiles come from `QuantileSketch`, a log-bucketed
histogram (the DDSketch idea): token counts below 1,024 are counted exactly, larger ones in
geometric buckets, so a reported percentile is within 0.5% (relative) of the true value at
that rank, deterministically, in at most a few thousand buckets whatever the file size.
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from activities.datasets.tokens import base_model_family

# Per-example token limits for fine-tuning, by model-name prefix (longest prefix wins),
# from the provider's fine-tuning guide. Examples longer than this are truncated by the
# provider; we refuse them instead, since a cut-off example trains on a broken reply.
PER_EXAMPLE_TOKEN_LIMITS: dict[str, int] = {
    "gpt-4o": 65_536,
    "gpt-4.1": 65_536,
    "gpt-3.5-turbo": 16_385,
    "gpt-3.5-turbo-0613": 4_096,
    "gpt-4-0613": 8_192,
}

# OpenAI's cookbook rule for `n_epochs: "auto"`: aim for 3 epochs while seeing between
# 100 and 25,000 examples in total, within 1..25 epochs.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


# Applied when a model is not in the table: the smallest limit of the current fine-tunable
# models, so an example the real limit would truncate is caught rather than let through.
DEFAULT_PER_EXAMPLE_TOKEN_LIMIT = 16_385


def per_example_token_limit(base_model: str) -> int | None:
    name = base_model_family(base_model)
    matches = [p for p in PER_EXAMPLE_TOKEN_LIMITS if name.startswith(p)]
    if not matches:
        return None
    return PER_EXAMPLE_TOKEN_LIMITS[max(matches, key=len)]


def auto_epochs(n_examples: int) -> int:
    """Epochs the provider picks for `n_epochs: "auto"` on `n_examples` training examples.

    Below the minimum the epochs are rounded up so at least 100 examples are seen (the
    cookbook floors; rounding up keeps a cost estimate on the safe side).
    """
    if n_examples < 1:
        raise ValueError("auto_epochs needs at least one example")
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, math.ceil(MIN_TARGET_EXAMPLES / n_examples))
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


class QuantileSketch:
    """Counts of non-negative integers; exact below `exact_below`, log-bucketed above."""

    def __init__(self, *, exact_below: int = 1024, relative_error: float = 0.005) -> None:
        self.exact_below = exact_below
        self.relative_error = relative_error
        self._gamma = (1 + relative_error) / (1 - relative_error)
        self._log_gamma = math.log(self._gamma)
        self._exact: dict[int, int] = {}
        # bucket i holds values in (gamma^(i-1), gamma^i]
        self._buckets: dict[int, int] = {}
        self.count = 0
        self.low: int | None = None
        self.high: int | None = None

    def add(self, value: int) -> None:
        if value < 0:
            raise ValueError("QuantileSketch counts non-negative values only")
        self.count += 1
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)
        if value < self.exact_below:
            self._exact[value] = self._exact.get(value, 0) + 1
        else:
            index = math.ceil(math.log(value) / self._log_gamma)
            self._buckets[index] = self._buckets.get(index, 0) + 1

    @property
    def buckets(self) -> int:
        return len(self._exact) + len(self._buckets)

    def quantile(self, q: float) -> int | None:
        """Nearest-rank quantile: the value at rank ceil(q * n), 1-based."""
        if not 0.0 <= q <= 1.0:
            raise ValueError("q must be within [0, 1]")
        if self.count == 0 or self.low is None or self.high is None:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for value in sorted(self._exact):
            seen += self._exact[value]
            if seen >= rank:
                return value
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                # The point that minimises the relative error over the bucket's range.
                estimate = round(2 * self._gamma**index / (self._gamma + 1))
                return min(max(estimate, self.low), self.high)
        return self.high


class LongExample(BaseModel):
    line: int = Field(ge=1)
    tokens: int = Field(ge=0)


class TokenStats(BaseModel):
    """Token figures for the examples that passed validation."""

    encoding: str
    examples: int = Field(ge=0)
    tokens: int = Field(ge=0, description="sum over examples, before truncation")
    min_tokens: int | None = None
    mean_tokens: float | None = None
    p10_tokens: int | None = None
    p50_tokens: int | None = None
    p90_tokens: int | None = None
    max_tokens: int | None = None
    percentile_relative_error: float = Field(
        description="bound on the relative error of the p10/p50/p90 figures"
    )
    token_limit: int | None = Field(description="per-example limit of the base model, if known")
    too_long_examples: int = Field(ge=0)
    too_long: list[LongExample] = Field(description="the first examples over the limit")
    billable_tokens: int = Field(
        ge=0,
        description="what training processes: sum of min(tokens, limit) per example (a DPO"
        " record's longest sequence cut to the limit)",
    )
    assistant_tokens: int | None = Field(
        default=None,
        description="tokens the loss is computed on (the assistant's), where the tokenizer"
        " knows them (self-hosted templates with generation markers); the cost uses"
        " billable_tokens, since every token is processed",
    )


class TokenStatsCollector:
    """Feed (line, tokens) per example in file order; `finish()` gives the figures."""

    def __init__(self, encoding: str, token_limit: int | None, *, lines_kept: int = 10) -> None:
        """`add` with an `assistant` count for every example gives `assistant_tokens`."""
        self.encoding = encoding
        self.token_limit = token_limit
        self.lines_kept = lines_kept
        self._sketch = QuantileSketch()
        self._total = 0
        self._billable = 0
        self._too_long = 0
        self._too_long_kept: list[LongExample] = []
        self._assistant: int | None = None
        self._assistant_known = True

    def add(
        self, line_no: int, tokens: int, *, longest: int | None = None, assistant: int | None = None
    ) -> None:
        """`longest`: the example's longest sequence when it has several (DPO); the limit
        applies to it. Default: the example is one sequence of `tokens`."""
        self._sketch.add(tokens)
        self._total += tokens
        sequence = tokens if longest is None else longest
        limit = self.token_limit
        if limit is not None and sequence > limit:
            self._too_long += 1
            if len(self._too_long_kept) < self.lines_kept:
                self._too_long_kept.append(LongExample(line=line_no, tokens=sequence))
            self._billable += tokens - (sequence - limit)
        else:
            self._billable += tokens
        if assistant is None:
            self._assistant_known = False
        elif self._assistant_known:
            self._assistant = (self._assistant or 0) + assistant

    def finish(self) -> TokenStats:
        sketch = self._sketch
        n = sketch.count
        return TokenStats(
            encoding=self.encoding,
            examples=n,
            tokens=self._total,
            min_tokens=sketch.low,
            mean_tokens=round(self._total / n, 2) if n else None,
            p10_tokens=sketch.quantile(0.1),
            p50_tokens=sketch.quantile(0.5),
            p90_tokens=sketch.quantile(0.9),
            max_tokens=sketch.high,
            percentile_relative_error=sketch.relative_error,
            token_limit=self.token_limit,
            too_long_examples=self._too_long,
            too_long=sorted(self._too_long_kept, key=lambda e: e.line),
            billable_tokens=self._billable,
            assistant_tokens=self._assistant if self._assistant_known else None,
        )
