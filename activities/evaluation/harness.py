"""Run one suite against one model: ask the model every sample, grade every answer."""

from __future__ import annotations

import asyncio

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, Field

from activities.evaluation.cache import CompletionCache
from activities.evaluation.calls import chat_completion, chat_params
from activities.evaluation.graders import GradeContext, GraderVerdict, grade
from activities.evaluation.graders.base import DEFAULT_MODERATION_MODEL, CallTarget
from activities.evaluation.intervals import Resampling, sample_clusters, score_interval
from activities.evaluation.ratelimit import RateLimitGate
from activities.evaluation.stats import stderr
from core.evaluation import SuiteScore
from core.evaluation_suites import Sample, Suite

MODEL_SEED = 7


class SampleResult(BaseModel):
    suite: str
    sample_id: str
    model: str
    input: str
    output: str | None = None
    verdicts: list[GraderVerdict] = Field(default_factory=list)
    score: float | None = None
    passed: bool | None = None
    errored: bool = False
    contaminated: bool = False
    error: str | None = None


class SuiteRun(BaseModel):
    score: SuiteScore
    samples: list[SampleResult]

    def scores_by_id(self) -> dict[str, float | None]:
        """Per-sample scores for paired comparisons (None where not scored)."""
        return {s.sample_id: s.score for s in self.samples}


def _messages(sample: Sample, system_prompt: str | None) -> list[dict[str, str]]:
    messages = [{"role": m.role, "content": m.content} for m in sample.messages]
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def _answer_text(completion: ChatCompletion) -> str | None:
    if not completion.choices:
        return None
    message = completion.choices[0].message
    # A provider-side refusal arrives in `refusal` with no content; it is still the answer.
    return message.content if message.content is not None else message.refusal


async def _ask(ctx: GradeContext, model: str, sample: Sample, system_prompt: str | None) -> str:
    params = chat_params(model, _messages(sample, system_prompt), seed=MODEL_SEED)
    completion = await chat_completion(ctx, params, usable=lambda c: _answer_text(c) is not None)
    if not completion.choices:
        raise ValueError("model returned no choices")
    text = _answer_text(completion)
    if text is None:
        raise ValueError("model returned no content")
    return text


async def _run_sample(
    suite: Suite,
    sample: Sample,
    model: str,
    ctx: GradeContext,
    system_prompt: str | None,
) -> SampleResult:
    base = SampleResult(suite=suite.name, sample_id=sample.id, model=model, input=sample.prompt)
    try:
        output = await _ask(ctx, model, sample, system_prompt)
    except (openai.APIError, ValueError) as exc:
        # The SDK has already retried transient failures; what is left is an error,
        # never a zero: the model was not measured.
        return base.model_copy(
            update={"errored": True, "error": f"model call failed: {type(exc).__name__}: {exc}"}
        )

    verdicts = list(
        await asyncio.gather(
            *(grade(spec, sample, output, ctx) for spec in suite.graders_for(sample))
        )
    )
    broken = [v for v in verdicts if v.errored]
    if broken:
        return base.model_copy(
            update={
                "output": output,
                "verdicts": verdicts,
                "errored": True,
                "error": "; ".join(f"{v.grader}: {v.rationale}" for v in broken),
            }
        )
    scores = [v.score for v in verdicts if v.score is not None]
    return base.model_copy(
        update={
            "output": output,
            "verdicts": verdicts,
            "score": sum(scores) / len(scores),
            "passed": all(v.passed for v in verdicts),
        }
    )


def score_suite(
    suite: Suite,
    model: str,
    samples: list[SampleResult],
    resampling: Resampling | None = None,
) -> SuiteScore:
    """Counts, mean and interval of one suite; samples sharing a group or prompt are
    resampled together."""
    clusters = sample_clusters(suite)
    graded = [s for s in samples if s.score is not None]
    scored = [s.score for s in graded if s.score is not None]
    interval = score_interval(
        scored, [clusters.get(s.sample_id, s.sample_id) for s in graded], resampling
    )
    return SuiteScore(
        suite=suite.name,
        category=suite.category,
        model=model,
        n=len(samples),
        passed=sum(1 for s in samples if s.passed is True),
        failed=sum(1 for s in samples if s.passed is False),
        errored=sum(1 for s in samples if s.errored),
        contaminated=sum(1 for s in samples if s.contaminated),
        mean=interval.mean,
        stderr=stderr(scored),
        ci_low=interval.low,
        ci_high=interval.high,
        interval_method=interval.method,
        clusters=interval.clusters,
    )


async def run_suite(
    client: AsyncOpenAI,
    suite: Suite,
    model: str,
    *,
    judge_model: str,
    concurrency: int = 8,
    request_timeout: float = 60.0,
    exclude_ids: set[str] | frozenset[str] = frozenset(),
    system_prompt: str | None = None,
    moderation_model: str = DEFAULT_MODERATION_MODEL,
    cache: CompletionCache | None = None,
    gate: RateLimitGate | None = None,
    model_scope: str | None = None,
    model_provider: str = "openai",
    judge_target: CallTarget | None = None,
    moderation_target: CallTarget | None = None,
    resampling: Resampling | None = None,
) -> SuiteRun:
    """Evaluate `model` on every sample of `suite`.

    Samples in `exclude_ids` overlap the training data: they are counted as contaminated
    and never sent to the model, since a memorised answer measures nothing. `cache`
    replays responses of identical earlier requests; `gate` is shared by the calls of one
    activity and honours the provider's rate-limit headers. `client` serves `model` (under
    `model_scope` in the cache); the judge and moderation call their own targets when
    given, else the same client.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    # One semaphore bounds every API call (model, judge, moderation). It is held per call,
    # never across a sample's whole lifetime, so graders cannot starve behind answers.
    ctx = GradeContext(
        client=client,
        judge_model=judge_model,
        semaphore=asyncio.Semaphore(concurrency),
        moderation_model=moderation_model,
        request_timeout=request_timeout,
        cache=cache,
        gate=gate,
        model_scope=model_scope,
        model_provider=model_provider,
        judge_target=judge_target,
        moderation_target=moderation_target,
    )

    async def one(sample: Sample) -> SampleResult:
        if sample.id in exclude_ids:
            return SampleResult(
                suite=suite.name,
                sample_id=sample.id,
                model=model,
                input=sample.prompt,
                contaminated=True,
                error="excluded: prompt overlaps the training data",
            )
        return await _run_sample(suite, sample, model, ctx, system_prompt)

    samples = list(await asyncio.gather(*(one(s) for s in suite.samples)))
    return SuiteRun(score=score_suite(suite, model, samples, resampling), samples=samples)
