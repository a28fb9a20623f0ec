"""TrainingJobWorkflow: validate -> launch -> wait -> evaluate -> (approve) -> promote.

Deterministic: every side effect is an activity, called by reference with the typed input
it needs (from the job's request). The workflow owns the job's lifecycle: it moves the
status and records the end in the PostgreSQL projection (workflows/job_end.py); each
activity writes only the facts its step produces. The live state is served by the `state`
query; search attributes keep the Temporal UI's list filterable by tenant, status and model.

Every way out of a run records the job's end (a cancel or a failure is recorded even if a
workflow cancellation arrives meanwhile), and a long wait for training continues as new
with its state carried, so history stays bounded whatever the training takes.
Change this workflow with `workflow.patched`: tests/test_replay.py replays recorded runs.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from activities.datasets.activities import DatasetActivities
    from activities.promotion import PromotionActivities
    from activities.providers.activities import ProviderActivities
    from core.evaluation import EvaluationSummary
    from core.models import (
        ApprovalDecision,
        CancelRequest,
        JobStage,
        JobState,
        JobStatus,
        ResumeState,
        TrainingJobInput,
    )
    from core.provider_status import ProviderJobStatus
    from core.steps import LaunchResult, ValidationSummary, WaitResult
    from core.text_sanitize import ERROR_MESSAGE_MAX_CHARS, safe_code, safe_optional_text
    from workflows import search_attributes as sa
    from workflows.details import render_details
    from workflows.evaluation import evaluate
    from workflows.failures import describe_failure, trained_model
    from workflows.job_end import cancel_provider_job, record_job_end, record_job_status
    from workflows.messages import (
        NO_INPUT,
        approval_problem,
        read_cancel,
        read_decision,
        read_rename,
    )
    from workflows.names import TRAINING_WORKFLOW
    from workflows.options import OUTAGE_BUDGET, PATIENT_RETRY, QUICK_RETRY
    from workflows.self_hosted import serve_for_evaluation, train_on_gpu
    from workflows.step_inputs import (
        evaluation_input,
        launch_input,
        promote_input,
        validate_input,
        wait_input,
    )


@workflow.defn(name=TRAINING_WORKFLOW)
class TrainingJobWorkflow:
    @workflow.init
    def __init__(self, inp: TrainingJobInput) -> None:
        self._input = inp
        resume = inp.resume
        self._state = (
            resume.state.model_copy(deep=True)
            if resume
            else JobState(job_id=inp.job_id, tenant_id=inp.tenant_id)
        )
        self._run_number = resume.runs + 1 if resume else 1
        self._cancel: CancelRequest | None = None
        self._approval: tuple[bool, ApprovalDecision] | None = None
        self._pipeline: asyncio.Task[None] | None = None
        self._ending = False  # the job's end is being recorded: cancels change nothing
        # Estimated cost above the policy's approval limit.
        self._costly = resume.costly if resume else False

    # ---- messages ------------------------------------------------------------------------

    @workflow.query(name="state")
    def state(self) -> JobState:
        return self._state

    # Signals take the raw payload: one that pydantic cannot read (a lone surrogate) would
    # otherwise be dropped, and a cancel must never be lost. See workflows/messages.py.
    @workflow.signal(name="cancel")
    def cancel(self, raw: RawValue = NO_INPUT) -> None:
        if self._cancel is None and not self._ending and not self._state.status.is_terminal:
            self._cancel = read_cancel(raw)
            if self._pipeline is not None:
                self._pipeline.cancel()

    # A PATCH of the job's name or description while it runs: its promotion uses them.
    @workflow.signal(name="rename")
    def rename(self, raw: RawValue = NO_INPUT) -> None:
        renamed = read_rename(raw)
        if renamed:
            self._input = self._input.model_copy(update=renamed)

    @workflow.update(name="approve")
    def approve(self, decision: ApprovalDecision) -> JobState:
        self._approval = (True, decision)
        return self._state

    @workflow.update(name="reject")
    def reject(self, decision: ApprovalDecision) -> JobState:
        self._approval = (False, decision)
        return self._state

    @approve.validator
    def _validate_approve(self, decision: ApprovalDecision) -> None:
        self._require_awaiting_approval(decision)

    @reject.validator
    def _validate_reject(self, decision: ApprovalDecision) -> None:
        self._require_awaiting_approval(decision)

    def _require_awaiting_approval(self, decision: ApprovalDecision) -> None:
        problem = approval_problem(self._state.stage, self._approval is not None, decision)
        if problem is not None:
            raise problem

    @workflow.signal(name="approve_signal")
    def approve_signal(self, raw: RawValue = NO_INPUT) -> None:
        self._decide_by_signal(True, raw)

    @workflow.signal(name="reject_signal")
    def reject_signal(self, raw: RawValue = NO_INPUT) -> None:
        self._decide_by_signal(False, raw)

    def _decide_by_signal(self, approved: bool, raw: RawValue) -> None:
        if self._state.stage != JobStage.awaiting_approval or self._approval is not None:
            return
        decision = read_decision(raw)
        if decision is None:
            workflow.logger.warning("approval signal without a readable reviewer ignored")
            return
        self._approval = (approved, decision)

    # ---- run -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: TrainingJobInput) -> JobState:
        if inp.resume is not None:
            self._show_details()  # current details belong to a run: show them again
        self._pipeline = asyncio.create_task(self._run_pipeline(inp))
        if self._cancel is not None:  # signalled before the run began
            self._pipeline.cancel()
        ending = asyncio.create_task(self._conclude(inp))
        while True:
            try:
                # Shielded: a workflow cancellation must not interrupt recording the end.
                return await asyncio.shield(ending)
            except asyncio.CancelledError:
                if ending.done():
                    raise  # the run ends Canceled, its end recorded
                self._pipeline.cancel()

    async def _run_pipeline(self, inp: TrainingJobInput) -> None:
        """validate -> launch -> wait -> evaluate -> (approve) -> promote.

        The job's end (completed, failed or cancelled) is recorded by `_conclude`.
        """
        if inp.resume is None:
            validation = await self._validate(inp)
            launch = await self._launch(inp, validation)
            if launch.gpu_training is not None:  # self-hosted: trained by this service
                fine_tuned_model = await self._train_here(inp, launch, validation)
            else:
                fine_tuned_model = await self._wait_for_training(inp, launch.provider_job_id)
        else:  # a continued run: training is under way at the provider
            fine_tuned_model = await self._wait_for_training(inp, inp.resume.provider_job_id)
        # From here on the job's current name and description count (see `rename`).
        summary = await self._evaluate(self._input, fine_tuned_model)
        if not summary.passed:
            # Failing thresholds is an evaluation result, not a job failure.
            self._state.promoted = False
            return
        approval = None
        if inp.require_approval or self._costly:
            approval = await self._await_approval(inp)
        await self._promote(self._input, approval)

    async def _conclude(self, inp: TrainingJobInput) -> JobState:
        """Await the pipeline, then record how the job ended, whatever that was."""
        assert self._pipeline is not None
        try:
            await self._pipeline
        except (Exception, asyncio.CancelledError) as err:  # not ContinueAsNewError
            self._ending = True
            if is_cancelled_exception(err):
                await self._cleanup_after_cancel(inp)
                if self._cancel is None:
                    raise  # workflow cancellation: the run ends Canceled
                return self._state
            code, message = describe_failure(err)
            code = safe_code(code)
            message = safe_optional_text(message, ERROR_MESSAGE_MAX_CHARS) or code
            await self._finish(JobStatus.failed, error_code=code, error_message=message)
            raise ApplicationError(message, type=code, non_retryable=True) from None
        self._ending = True
        await self._finish(JobStatus.completed)  # promoted or not
        return self._state

    # ---- the steps -----------------------------------------------------------------------

    async def _validate(self, inp: TrainingJobInput) -> ValidationSummary:
        await self._set_status(JobStatus.validating, JobStage.validating)
        validation = await workflow.execute_activity_method(
            DatasetActivities.validate_dataset,
            validate_input(inp),
            start_to_close_timeout=timedelta(seconds=inp.timeouts.validate_seconds),
            heartbeat_timeout=timedelta(seconds=inp.timeouts.wait_heartbeat_seconds),
            retry_policy=QUICK_RETRY,
        )
        limit = inp.approval_above_cost_usd
        cost = validation.estimated_cost_usd
        self._costly = limit is not None and cost is not None and cost > limit
        return validation

    async def _launch(self, inp: TrainingJobInput, validation: ValidationSummary) -> LaunchResult:
        await self._set_status(JobStatus.training, JobStage.queued_at_provider)
        launch = await workflow.execute_activity_method(
            ProviderActivities.launch_fine_tune,
            launch_input(inp, validation.provider_file_id),
            start_to_close_timeout=timedelta(seconds=inp.timeouts.launch_seconds),
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
        self._state.provider_job_id = launch.provider_job_id
        return launch

    async def _train_here(
        self, inp: TrainingJobInput, launch: LaunchResult, validation: ValidationSummary
    ) -> str:
        """Train on a GPU worker, then load the adapter where the evaluation calls it."""
        assert launch.gpu_training is not None
        result = await train_on_gpu(
            inp, launch.provider_job_id, validation.provider_file_id, launch.gpu_training
        )
        self._state.progress = result.progress
        fine_tuned_model = self._trained_model(result)
        await serve_for_evaluation(inp, result)
        return fine_tuned_model

    async def _wait_for_training(self, inp: TrainingJobInput, provider_job_id: str) -> str:
        """Poll in rounds so the live state refreshes without bloating history; returns the
        fine-tuned model, or fails the job with the provider's error."""
        report_after = inp.timeouts.progress_report_seconds
        while True:
            result = await workflow.execute_activity_method(
                ProviderActivities.wait_for_fine_tune,
                wait_input(inp, provider_job_id),
                start_to_close_timeout=timedelta(seconds=report_after + 600),
                heartbeat_timeout=timedelta(seconds=inp.timeouts.wait_heartbeat_seconds),
                retry_policy=PATIENT_RETRY,
            )
            self._state.progress = result.progress
            if result.provider_status is ProviderJobStatus.running:
                self._state.stage = JobStage.training
            self._show_details()
            if result.done:
                return self._trained_model(result)
            if self._history_is_long(inp):
                await self._continue_as_new(inp, provider_job_id)

    def _trained_model(self, result: WaitResult) -> str:
        self._state.fine_tuned_model = model = trained_model(result)
        workflow.upsert_search_attributes([sa.FINE_TUNED_MODEL.value_set(model)])
        return model

    async def _evaluate(self, inp: TrainingJobInput, fine_tuned_model: str) -> EvaluationSummary:
        await self._set_status(JobStatus.evaluating, JobStage.evaluating)
        evaluation_id = str(workflow.uuid4())
        self._state.evaluation_id = evaluation_id
        workflow_id = workflow.info().workflow_id
        summary = await evaluate(
            evaluation_input(inp, evaluation_id, workflow_id, fine_tuned_model)
        )
        self._state.evaluation = summary
        return summary

    async def _await_approval(self, inp: TrainingJobInput) -> tuple[bool, ApprovalDecision]:
        """Whether a reviewer approved, and their decision; a timeout rejects."""
        await self._set_status(JobStatus.evaluating, JobStage.awaiting_approval)
        timeout = inp.timeouts.approval_timeout_seconds
        try:
            await workflow.wait_condition(
                lambda: self._approval is not None,
                timeout=timedelta(seconds=timeout) if timeout else None,
            )
        except TimeoutError:
            return False, ApprovalDecision(reviewer="system", note="approval timed out")
        assert self._approval is not None
        return self._approval

    async def _promote(
        self, inp: TrainingJobInput, approval: tuple[bool, ApprovalDecision] | None
    ) -> None:
        """Register the model; a rejection is recorded as a promotion the reviewer refused."""
        metadata: dict[str, object] = {}
        if approval is not None:
            approved, decision = approval
            metadata = {"reviewer": decision.reviewer, "note": decision.note, "approved": approved}
        await self._set_status(JobStatus.evaluating, JobStage.promoting)
        outcome = await workflow.execute_activity_method(
            PromotionActivities.promote_model,
            promote_input(
                inp,
                promotion_id=str(workflow.uuid4()),
                evaluation_id=self._state.evaluation_id,
                fine_tuned_model=self._state.fine_tuned_model,
                metadata=metadata,
            ),
            start_to_close_timeout=timedelta(seconds=inp.timeouts.promote_seconds),
            schedule_to_close_timeout=OUTAGE_BUDGET,
            retry_policy=PATIENT_RETRY,
        )
        self._state.promotion_id = outcome.promotion_id
        self._state.promoted = outcome.promoted

    # ---- history ------------------------------------------------------------------------

    def _history_is_long(self, inp: TrainingJobInput) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= inp.timeouts.continue_as_new_after_events
        )

    async def _continue_as_new(self, inp: TrainingJobInput, provider_job_id: str) -> None:
        """Hand the wait to a fresh run; the same workflow id, search attributes and memo
        carry on, and the state below restores the query and the UI details."""
        # Let running signal and update handlers finish in this run (samples-python idiom).
        await workflow.wait_condition(workflow.all_handlers_finished)
        resume = ResumeState(
            state=self._state,
            provider_job_id=provider_job_id,
            costly=self._costly,
            runs=self._run_number,
        )
        workflow.continue_as_new(self._input.model_copy(update={"resume": resume}))

    # ---- bookkeeping ---------------------------------------------------------------------

    def _show_details(self) -> None:
        """What the Temporal UI shows as this run's current details."""
        workflow.set_current_details(
            render_details(self._state, workflow.info().workflow_id, self._run_number)
        )

    def _show_status(self, status: JobStatus, stage: JobStage) -> None:
        self._state.status = status
        self._state.stage = stage
        workflow.upsert_search_attributes([sa.JOB_STATUS.value_set(status.value)])
        self._show_details()

    async def _set_status(self, status: JobStatus, stage: JobStage) -> None:
        """Move the job on: the live state, the search attribute and the projection."""
        self._show_status(status, stage)
        await record_job_status(self._input.job_id, status, stage)

    async def _finish(
        self,
        status: JobStatus,
        *,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        code, message = await record_job_end(self._input.job_id, status, error_code, error_message)
        self._state.error_code = code
        self._state.error_message = message
        self._show_status(status, JobStage.done)

    async def _cleanup_after_cancel(self, inp: TrainingJobInput) -> None:
        """Cancel the provider job (if one exists) and record the job as cancelled."""
        reason = self._cancel.reason if self._cancel else "workflow cancelled"
        self._state.cancel_reason = reason
        await self._set_status(self._state.status, JobStage.cancelling)
        code = "cancelled"
        problem = await cancel_provider_job(
            inp.job_id, inp.provider, self._state.provider_job_id, inp.timeouts.launch_seconds
        )
        if problem is not None:
            # The job ends cancelled either way; its code says the provider's may not have.
            code = "provider_cancel_failed"
            reason = f"{reason} (the provider job could not be cancelled: {problem})"
        await self._finish(JobStatus.cancelled, error_code=code, error_message=reason)
