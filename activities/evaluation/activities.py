"""Evaluation activities: plan the run, grade one suite per activity, summarise.

One activity per (suite, model) lets several workers share a large evaluation; per-sample
results go to PostgreSQL and only suite scores travel back to the workflow.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.evaluation.harness import run_suite
from activities.evaluation.scoring import summarize
from activities.evaluation.stats import paired_delta
from activities.evaluation.suites import (
    Suite,
    list_builtin_suites,
    load_builtin_suite,
    suite_from_dict,
)
from activities.store import evaluations, jobs, promotions
from core.evaluation import EvaluationSummary, SuiteCategory, SuiteScore
from core.models import JobStage, JobStatus
from core.steps import (
    EvaluationPlan,
    FinishEvaluationInput,
    StartEvaluationInput,
    SuiteRef,
    SuiteTask,
)


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(message, type="evaluation_config_invalid", non_retryable=True)


def _custom_suites(harness_config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`custom_tests` maps a suite name to an inline suite definition."""
    custom = harness_config.get("custom_tests") or {}
    if not isinstance(custom, dict):
        raise _invalid("harness_config.custom_tests must be an object of suite definitions")
    return {str(name): dict(body) for name, body in custom.items() if isinstance(body, dict)}


class EvaluationActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    def _plan_suites(self, harness_config: dict[str, Any]) -> list[SuiteRef]:
        settings = self._deps.settings
        known = set(list_builtin_suites())
        pedagogy = harness_config.get("pedagogy_tests")
        safety = harness_config.get("safety_tests")
        if pedagogy is None and safety is None:
            pedagogy = settings.eval_default_pedagogy_suites
            safety = settings.eval_default_safety_suites
        refs: list[SuiteRef] = []
        for field, names, category in (
            ("pedagogy_tests", pedagogy or [], SuiteCategory.pedagogy),
            ("safety_tests", safety or [], SuiteCategory.safety),
        ):
            for index, name in enumerate(names):
                if name not in known:
                    raise _invalid(
                        f"harness_config.{field}[{index}]: unknown suite '{name}' "
                        f"(known: {', '.join(sorted(known))})"
                    )
                suite = load_builtin_suite(name)
                if suite.category != category:
                    raise _invalid(
                        f"harness_config.{field}[{index}]: '{name}' is a {suite.category} suite"
                    )
                refs.append(SuiteRef(name=name, category=category))
        for name, body in _custom_suites(harness_config).items():
            try:
                suite = suite_from_dict({"name": name, **body})
            except ValueError as err:
                raise _invalid(f"harness_config.custom_tests.{name}: {err}") from None
            refs.append(SuiteRef(name=suite.name, category=suite.category))
        if not refs:
            raise _invalid("harness_config selects no suites")
        return refs

    @activity.defn(name="start_evaluation")
    async def start_evaluation(self, start: StartEvaluationInput) -> EvaluationPlan:
        pool = self._deps.pool
        job = await jobs.load_job(pool, start.job_id)
        model = job["provider_model_id"]
        if not model:
            raise _invalid("the job has no fine-tuned model to evaluate")
        suites = self._plan_suites(start.harness_config)
        # Compare with the tenant's current champion when there is one, else the base model.
        champion = await promotions.current_champion(
            pool, start.tenant_id, job["name"], start.job_id
        )
        baseline = champion["provider_model_id"] if champion else job["base_model"]
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
        if start.mark_job_evaluating:
            await jobs.set_status(pool, start.job_id, JobStatus.evaluating, JobStage.evaluating)
        return EvaluationPlan(
            model=model,
            baseline_model=baseline,
            suites=suites,
            concurrency=self._deps.settings.eval_concurrency,
            timeout_seconds=float(start.harness_config.get("timeout") or 600),
            parallel=bool(start.harness_config.get("parallel", True)),
        )

    async def _load_suite(self, evaluation_id: str, ref: SuiteRef) -> Suite:
        if ref.category is not SuiteCategory.custom and ref.name in list_builtin_suites():
            suite = load_builtin_suite(ref.name)
        else:
            row = await evaluations.load_evaluation(self._deps.pool, evaluation_id)
            body = _custom_suites(row["harness_config"]).get(ref.name)
            if body is None:
                raise _invalid(f"custom suite '{ref.name}' is no longer in the harness config")
            suite = suite_from_dict({"name": ref.name, **body})
        limit = self._deps.settings.eval_max_samples_per_suite
        if limit is not None:
            suite = suite.model_copy(update={"samples": suite.samples[:limit]})
        return suite

    @activity.defn(name="run_evaluation_suite")
    async def run_evaluation_suite(self, task: SuiteTask) -> SuiteScore:
        suite = await self._load_suite(task.evaluation_id, task.suite)
        run = await run_suite(
            self._deps.openai_client,
            suite,
            task.model,
            judge_model=self._deps.settings.eval_judge_model,
            concurrency=task.concurrency,
            request_timeout=min(task.timeout_seconds, 120.0),
        )
        await evaluations.save_samples(
            self._deps.pool,
            task.evaluation_id,
            task.role,
            [s.model_dump(mode="json") for s in run.samples],
        )
        return run.score

    @activity.defn(name="finish_evaluation")
    async def finish_evaluation(self, finish: FinishEvaluationInput) -> EvaluationSummary:
        pool = self._deps.pool
        deltas = []
        if finish.baseline_suites:
            candidate = await evaluations.sample_scores(pool, finish.evaluation_id, "candidate")
            baseline = await evaluations.sample_scores(pool, finish.evaluation_id, "baseline")
            deltas = [
                paired_delta(candidate.get(s.suite, {}), baseline.get(s.suite, {}), suite=s.suite)
                for s in finish.suites
            ]
        summary = summarize(
            finish.suites,
            finish.thresholds,
            finish.weights,
            max_error_rate=self._deps.settings.eval_max_error_rate,
            baseline=finish.baseline_suites,
            deltas=deltas,
        )
        if finish.error_message and summary.status != "error":
            summary = summary.model_copy(
                update={"status": "error", "passed": False, "error_message": finish.error_message}
            )
        await evaluations.finish_evaluation(pool, finish.evaluation_id, summary)
        return summary
