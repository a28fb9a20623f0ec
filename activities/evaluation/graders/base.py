"""What every grader returns, and what the API-backed graders need to run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from openai import AsyncOpenAI
from pydantic import BaseModel, ConfigDict, Field, model_validator

from activities.evaluation.cache import CompletionCache
from activities.evaluation.ratelimit import RateLimitGate
from core.evaluation import DEFAULT_MODERATION_MODEL

__all__ = ["DEFAULT_MODERATION_MODEL", "CallTarget", "GradeContext", "GraderVerdict"]

JUDGE_SEED = 1234


class GraderVerdict(BaseModel):
    """One grader's finding on one output; an errored verdict has no score and no pass."""

    model_config = ConfigDict(frozen=True)

    grader: str
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    passed: bool | None = None
    errored: bool = False
    rationale: str = ""

    @model_validator(mode="after")
    def _errored_has_no_result(self) -> GraderVerdict:
        if self.errored and (self.score is not None or self.passed is not None):
            raise ValueError("an errored verdict carries no score and no pass")
        if not self.errored and (self.score is None or self.passed is None):
            raise ValueError("a verdict needs a score and a pass unless it errored")
        return self

    @classmethod
    def ok(
        cls, grader: str, passed: bool, rationale: str, score: float | None = None
    ) -> GraderVerdict:
        return cls(
            grader=grader,
            score=(1.0 if passed else 0.0) if score is None else score,
            passed=passed,
            rationale=rationale,
        )

    @classmethod
    def error(cls, grader: str, rationale: str) -> GraderVerdict:
        return cls(grader=grader, errored=True, rationale=rationale)


@dataclass(frozen=True)
class CallTarget:
    """One server the run calls: its client, the scope its cached responses are keyed
    under (None: OpenAI's, as keys always were), its rate gate and its metrics label."""

    client: AsyncOpenAI
    cache_scope: str | None = None
    gate: RateLimitGate | None = None
    provider: str = "openai"


@dataclass(frozen=True)
class GradeContext:
    """Shared by every grader of a run: the semaphore bounds concurrent API calls, the
    cache replays earlier responses, the gate holds calls while a rate budget is spent.

    `client` (with `model_scope` and `gate`) serves the graded model; the judge and
    moderation use their own targets when given, else the model's."""

    client: AsyncOpenAI
    judge_model: str
    semaphore: asyncio.Semaphore
    moderation_model: str = DEFAULT_MODERATION_MODEL
    request_timeout: float = 60.0
    judge_seed: int = JUDGE_SEED
    cache: CompletionCache | None = None
    gate: RateLimitGate | None = None
    model_scope: str | None = None
    model_provider: str = "openai"
    judge_target: CallTarget | None = None
    moderation_target: CallTarget | None = None

    def model_target(self) -> CallTarget:
        return CallTarget(self.client, self.model_scope, self.gate, self.model_provider)

    def judge_call_target(self) -> CallTarget:
        return self.judge_target or self.model_target()

    def moderation_call_target(self) -> CallTarget:
        return self.moderation_target or self.model_target()
