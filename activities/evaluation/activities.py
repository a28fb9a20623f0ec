"""Evaluation activities: plan, grade one (suite, model) per activity so workers share a large
evaluation (a small one in one, `grade_small_evaluation`), summarise with the judge's
calibration. Per-sample results go to PostgreSQL; only suite scores reach the workflow."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.datasets.fetch import DatasetUriError
from activities.deps import ActivityDeps
from activities.evaluation.contamination import contaminated_sample_ids, prompt_fingerprint
from activities.evaluation.endpoints import grading_targets
from activities.evaluation.harness import run_suite
from activities.evaluation.suite_fetch import fetch_uri_suite
from activities.evaluation.summary import resampling, summarise_evaluation
from activities.heartbeat import heartbeating
from activities.serving import ensure_served
from core.custom_suite_checks import inline_suite, is_uri_entry, parse_uri_entry
from core.evaluation import EvaluationSummary, SuiteScore
from core.evaluation_suites import Suite, list_builtin_suites, load_builtin_suite
from core.metrics import record_samples, timed_step
from core.steps import (
    EvaluationPlan,
    FinishEvaluationInput,
    GradeSmallInput,
    StartEvaluationInput,
    SuiteRef,
    SuiteTask,
)
from core.suite_selection import SuiteSelectionError, builtin_selection
from store import custom_suites, evaluations, fingerprints, promotions, samples
from store.completion_cache import PgCompletionCache
from store.rows import EvaluationRow


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="evaluation_config_invalid", non_retryable=True)


def _custom_suites(harness_config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`custom_tests` maps a suite name to an inline suite or a `{"uri": ...}` entry."""
    custom = harness_config.get("custom_tests") or {}
    if not isinstance(custom, dict):
        raise _invalid("harness_config.custom_tests must be an object of suite definitions")
    for name, body in custom.items():
        if not isinstance(body, dict):
            raise _invalid(f"harness_config.custom_tests.{name}: must be an object")
    return {str(name): dict(body) for name, body in custom.items()}


def _plan_custom(name: str, body: dict[str, Any]) -> SuiteRef:
    """Check a custom entry; a URI entry is fetched later, by the suite's first activity."""
    try:
        if is_uri_entry(body):
            return SuiteRef(name=name, category=parse_uri_entry(name, body).category)
        return SuiteRef(name=name, category=inline_suite(name, body).category)
    except ValueError as err:
        raise _invalid(f"harness_config.custom_tests.{name}: {err}") from None


def _deadline_seconds(info: activity.Info) -> float | None:
    """Seconds left before Temporal times this attempt out (None: no timeout set)."""
    now = datetime.now(UTC)
    ends = []
    if info.start_to_close_timeout and info.started_time:
        ends.append(info.started_time + info.start_to_close_timeout)
    if info.schedule_to_close_timeout and info.scheduled_time:
        ends.append(info.scheduled_time + info.schedule_to_close_timeout)
    if not ends:
        return None
    return (min(ends) - now).total_seconds()


class EvaluationActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    def _plan_suites(self, harness_config: dict[str, Any]) -> list[SuiteRef]:
        settings = self._deps.settings
        pedagogy = harness_config.get("pedagogy_tests")
        safety = harness_config.get("safety_tests")
        if pedagogy is None and safety is None:
            pedagogy = settings.eval_default_pedagogy_suites
            safety = settings.eval_default_safety_suites
        try:
            selected = builtin_selection(pedagogy or [], safety or [])
        except SuiteSelectionError as err:
            raise _invalid(str(err)) from None
        refs = [SuiteRef(name=name, category=category) for name, category in selected]
        for name, body in _custom_suites(harness_config).items():
            refs.append(_plan_custom(name, body))
        if not refs:
            raise _invalid("harness_config selects no suites")
        return refs

    @activity.defn(name="start_evaluation")
    @timed_step
    async def start_evaluation(self, start: StartEvaluationInput) -> EvaluationPlan:
        """Record the evaluation and plan it: which suites, against which baseline."""
        pool = self._deps.pool
        model = start.model
        if not model:
            raise _invalid("the job has no fine-tuned model to evaluate")
        suites = self._plan_suites(start.harness_config)
        # Compare with the tenant's current champion when there is one, else the base model.
        champion = await promotions.current_champion(
            pool, start.tenant_id, start.job_name, start.job_id
        )
        baseline: str | None = champion.provider_model_id if champion else start.base_model
        if not self._deps.settings.eval_run_baseline:
            baseline = None
        await evaluations.ensure_evaluation(
            pool,
            evaluation_id=start.evaluation_id,
            job_id=start.job_id,
            tenant_id=start.tenant_id,
            name=start.name,
            description=start.description,
            harness_config=start.harness_config,
            thresholds=start.thresholds.model_dump(),
            model=model,
            baseline_model=baseline,
            workflow_id=start.workflow_id,
        )
        plan = EvaluationPlan(
            model=model,
            baseline_model=baseline,
            suites=suites,
            concurrency=self._deps.settings.eval_concurrency,
            timeout_seconds=float(start.harness_config.get("timeout") or 600),
            parallel=bool(start.harness_config.get("parallel", True)),
        )
        calls = self._model_calls(plan, start.harness_config)
        return plan.model_copy(update={"small": calls < self._deps.settings.eval_fan_out_min_calls})

    @activity.defn(name="grade_small_evaluation")
    @timed_step
    @heartbeating
    async def grade_small_evaluation(self, inp: GradeSmallInput) -> EvaluationSummary:
        """Grade every suite of a small evaluation here, then summarise it."""
        start, plan = inp.start, inp.plan
        try:
            async with asyncio.timeout(plan.timeout_seconds):
                return await self._grade_inline(start, plan)
        except TimeoutError:
            # As with a suite that times out in the fan-out: the evaluation is `error`.
            return await self._summarise(
                FinishEvaluationInput(
                    evaluation_id=start.evaluation_id,
                    suites=[],
                    thresholds=start.thresholds,
                    gates=start.gates,
                    weights=start.weights,
                    error_message="evaluation did not finish within "
                    f"harness_config.timeout ({plan.timeout_seconds:g}s)",
                )
            )

    def _model_calls(self, plan: EvaluationPlan, harness_config: dict[str, Any]) -> float:
        """Samples to send to models; suites fetched by URI count as large (unknown size)."""
        custom = _custom_suites(harness_config)
        limit = self._deps.settings.eval_max_samples_per_suite
        total = 0.0
        for ref in plan.suites:
            if ref.name in custom:
                if is_uri_entry(custom[ref.name]):
                    return float("inf")
                size = len(inline_suite(ref.name, custom[ref.name]).samples)
            else:
                size = len(load_builtin_suite(ref.name).samples)
            total += size if limit is None else min(size, limit)
        return total * (2 if plan.baseline_model else 1)

    async def _grade_inline(
        self, start: StartEvaluationInput, plan: EvaluationPlan
    ) -> EvaluationSummary:
        """A small evaluation, graded here: same grading and records, fewer activities."""
        roles = [("candidate", plan.model)]
        if plan.baseline_model:
            roles.append(("baseline", plan.baseline_model))
        tasks = [
            SuiteTask(
                evaluation_id=start.evaluation_id,
                suite=suite,
                model=model,
                role=role,
                concurrency=plan.concurrency,
                timeout_seconds=plan.timeout_seconds,
            )
            for role, model in roles
            for suite in plan.suites
        ]
        if plan.parallel:
            outcomes = await asyncio.gather(
                *(self._grade(t) for t in tasks), return_exceptions=True
            )
        else:
            outcomes = []
            for task in tasks:
                try:
                    outcomes.append(await self._grade(task))
                except ApplicationError as err:
                    outcomes.append(err)
                    break
        error_message = None
        for outcome in outcomes:
            if isinstance(outcome, ApplicationError) and outcome.non_retryable:
                error_message = outcome.message  # a suite that cannot run: evaluation error
            elif isinstance(outcome, BaseException):
                raise outcome  # transient: retry the activity
        by_role = {
            role: [
                s
                for t, s in zip(tasks, outcomes, strict=False)
                if t.role == role and isinstance(s, SuiteScore)
            ]
            for role, _ in roles
        }
        return await self._summarise(
            FinishEvaluationInput(
                evaluation_id=start.evaluation_id,
                suites=by_role.get("candidate", []) if error_message is None else [],
                baseline_suites=by_role.get("baseline", []) if error_message is None else [],
                thresholds=start.thresholds,
                gates=start.gates,
                weights=start.weights,
                error_message=error_message,
            )
        )

    async def _load_suite(self, evaluation: EvaluationRow, ref: SuiteRef) -> Suite:
        if ref.name in list_builtin_suites():
            suite = load_builtin_suite(ref.name)
        else:
            body = _custom_suites(evaluation.harness_config).get(ref.name)
            if body is None:
                raise _invalid(f"custom suite '{ref.name}' is no longer in the harness config")
            suite = await self._custom_suite(evaluation, ref.name, body)
        limit = self._deps.settings.eval_max_samples_per_suite
        if limit is not None:
            suite = suite.model_copy(update={"samples": suite.samples[:limit]})
        return suite

    async def _custom_suite(
        self, evaluation: EvaluationRow, name: str, body: dict[str, Any]
    ) -> Suite:
        where = f"harness_config.custom_tests.{name}"
        try:
            if not is_uri_entry(body):
                return inline_suite(name, body)
            pool, evaluation_id = self._deps.pool, str(evaluation.id)
            stored = await custom_suites.load(pool, evaluation_id, name)
            if stored is None:
                entry = parse_uri_entry(name, body)
                fetched, result = await fetch_uri_suite(
                    name,
                    entry,
                    settings=self._deps.settings,
                    tenant_id=evaluation.tenant_id,
                    max_bytes=self._deps.settings.eval_custom_suite_max_bytes,
                )
                # The first activity to fetch wins; the others grade its copy.
                stored = await custom_suites.save_first(
                    pool,
                    evaluation_id,
                    name,
                    source=result.uri,
                    sha256=result.sha256,
                    suite=fetched.model_dump(mode="json", exclude_none=True),
                )
            return Suite.model_validate(stored)
        except (DatasetUriError, ValueError) as err:
            # Bad URI, refused, missing, too large, or not a valid suite: final. An
            # unavailable store (DatasetFetchUnavailable) propagates and is retried.
            raise _invalid(f"{where}: {err}") from None

    async def _excluded(self, evaluation: EvaluationRow, suite: Suite) -> set[str]:
        """Samples whose prompt is among the job's training prompts."""
        known = await fingerprints.matching_fingerprints(
            self._deps.pool,
            str(evaluation.job_id),
            (prompt_fingerprint(s.prompt) for s in suite.samples),
        )
        return contaminated_sample_ids(suite, known)

    @activity.defn(name="run_evaluation_suite")
    @timed_step
    @heartbeating
    async def run_evaluation_suite(self, task: SuiteTask) -> SuiteScore:
        return await self._grade(task)

    async def _grade(self, task: SuiteTask) -> SuiteScore:
        settings = self._deps.settings
        evaluation = await evaluations.load_evaluation(self._deps.pool, task.evaluation_id)
        suite = await self._load_suite(evaluation, task.suite)
        excluded = await self._excluded(evaluation, suite)
        # The graded model on its provider's server; judge and moderation where configured.
        targets = await grading_targets(
            self._deps.pool,
            self._deps.inference,
            str(evaluation.job_id),
            task.role,
            task.model,
            serve=lambda name, uri: ensure_served(settings, self._deps.artifact_store, name, uri),
        )
        cache = PgCompletionCache(self._deps.pool) if settings.eval_cache_enabled else None
        # Stop just before Temporal's own timeout so the report says which limit was hit.
        left = _deadline_seconds(activity.info())
        deadline = asyncio.timeout(None if left is None else max(0.1, left - 1.0))
        try:
            async with deadline:
                result = await run_suite(
                    targets.client,
                    suite,
                    task.model,
                    judge_model=targets.judge_model,
                    concurrency=task.concurrency,
                    request_timeout=min(task.timeout_seconds, 120.0),
                    exclude_ids=excluded,
                    moderation_model=targets.moderation_model,
                    cache=cache,
                    gate=targets.gate,
                    model_scope=targets.model_scope,
                    model_provider=targets.model_provider,
                    judge_target=targets.judge_target,
                    moderation_target=targets.moderation_target,
                    resampling=resampling(settings),
                )
        except TimeoutError:
            if not deadline.expired():
                raise  # some other timeout (e.g. the database): retried as usual
            raise ApplicationError(
                f"suite {suite.name} ({task.role}) did not finish within "
                f"harness_config.timeout ({task.timeout_seconds:g}s)",
                type="evaluation_timeout",
                non_retryable=True,
            ) from None
        await samples.save_samples(
            self._deps.pool,
            task.evaluation_id,
            task.role,
            [s.model_dump(mode="json") for s in result.samples],
        )
        score = result.score
        record_samples(suite.name, score.passed, score.failed, score.errored)
        return score

    @activity.defn(name="finish_evaluation")
    @timed_step
    async def finish_evaluation(self, finish: FinishEvaluationInput) -> EvaluationSummary:
        return await self._summarise(finish)

    async def _summarise(self, finish: FinishEvaluationInput) -> EvaluationSummary:
        return await summarise_evaluation(
            self._deps.pool, self._deps.settings, finish, self._load_suite
        )
