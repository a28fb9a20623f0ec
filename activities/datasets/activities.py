"""Dataset activities: validate a job's dataset (and upload it), or inspect one without a job.

The validate step writes the facts it produces (its report, the training prompts'
fingerprints, the uploaded file's id) to the projection; what it checks arrives in its input.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.datasets.step import fetch_and_analyse, rules_for
from activities.deps import ActivityDeps
from activities.evaluation.contamination import TrainingFingerprints
from activities.heartbeat import heartbeating, keep_heartbeat_details
from activities.providers.base import ProviderError
from activities.providers.failures import non_retryable, provider_failure, provider_for
from core.metrics import timed_step
from core.models import JobStage, Provider, TrainingMethod
from core.openai_cutoff import CUTOFF_CODE, openai_cutoff_problem
from core.settings import Settings
from core.steps import DatasetInspection, InspectDatasetInput, ValidateInput, ValidationSummary
from core.training_config import SelfHostedTrainingConfig
from store import jobs
from store.fingerprints import save_fingerprints


def job_max_seq_length(config: object) -> int | None:
    """The sequence limit a self-hosted job's LoRA settings set, if any."""
    return config.max_seq_length if isinstance(config, SelfHostedTrainingConfig) else None


def refuse_closed_provider(provider_name: str, settings: Settings, today: date) -> None:
    """OpenAI takes no new fine-tuning jobs after its cutoff (unless the deployment has an
    exception): a final error naming the date and the self-hosted alternative."""
    if provider_name != Provider.openai:
        return
    problem = openai_cutoff_problem(settings, today)
    if problem is not None:
        raise non_retryable(CUTOFF_CODE, problem)


def _uploaded_file() -> str | None:
    """The file an earlier attempt of this step uploaded (its heartbeat details)."""
    details = activity.info().heartbeat_details
    return str(details[0]) if details and details[0] else None


class DatasetActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    @activity.defn(name="validate_dataset")
    @timed_step
    @heartbeating
    async def validate_dataset(self, inp: ValidateInput) -> ValidationSummary:
        """Fetch the dataset once, analyse it in one pass, and upload exactly those bytes.

        Nothing reaches the provider unless the data, its datasheet and the base model
        pass; the provider then trains on the very file that was validated. A retried
        attempt finds an earlier upload in its heartbeat details and does not repeat it.
        """
        pool, settings = self._deps.pool, self._deps.settings
        await jobs.count_attempt(pool, inp.job_id, activity.info().attempt)
        shutdown = await self._check_base_model(inp.provider, inp.base_model)
        fmt = "dpo" if inp.config.method is TrainingMethod.dpo else "chat"
        with tempfile.TemporaryDirectory(prefix="trainer-dataset-") as spool:
            path = Path(spool) / "dataset.jsonl"
            prompts = TrainingFingerprints()
            analysis, report = await fetch_and_analyse(
                path,
                uri=inp.dataset_uri,
                tenant_id=inp.tenant_id,
                fmt=fmt,
                base_model=inp.base_model,
                datasheet=inp.datasheet,
                restrictions=inp.restrictions,
                n_epochs=inp.config.n_epochs,
                settings=settings,
                also=prompts.add_example,
                provider=inp.provider,
                max_seq_length=job_max_seq_length(inp.config),
            )
            await jobs.record_validation(pool, inp.job_id, report)
            if not analysis.ok:
                raise non_retryable(
                    "dataset_invalid",
                    f"dataset or datasheet invalid ({analysis.error_count} error(s)): "
                    + analysis.errors_text(5).replace("\n", "; "),
                )
            await save_fingerprints(pool, inp.job_id, prompts.fingerprints)
            file_id = _uploaded_file()
            if file_id is None:
                # The upload's progress within the validate step, shown while it runs.
                await jobs.set_stage(pool, inp.job_id, JobStage.uploading)
                provider = provider_for(self._deps, inp.provider)
                try:
                    file_id = await provider.upload_training_file(
                        path, job_id=inp.job_id, tenant_id=inp.tenant_id
                    )
                except ProviderError as err:
                    raise provider_failure(err) from None
                keep_heartbeat_details(file_id)
                await jobs.record_uploaded_file(pool, inp.job_id, file_id)
        return ValidationSummary(
            examples=analysis.report.stats.examples,
            format=fmt,
            warning_count=analysis.report.warning_count,
            base_model_shutdown_date=shutdown.isoformat() if shutdown else None,
            estimated_cost_usd=analysis.cost.cost_usd,
            training_tokens_estimate=analysis.cost.training_tokens,
            provider_file_id=file_id,
        )

    @activity.defn(name="inspect_dataset")
    @timed_step
    async def inspect_dataset(self, req: InspectDatasetInput) -> DatasetInspection:
        """The validate step's report for a dataset, without a job and without uploading."""
        settings = self._deps.settings
        small = settings.model_copy(
            update={
                "dataset_max_bytes": min(
                    settings.dataset_max_bytes, settings.dataset_sync_validate_max_bytes
                )
            }
        )
        base_model_problem = None
        try:
            await self._check_base_model(req.provider, req.base_model)
        except ApplicationError as err:
            if err.non_retryable:
                base_model_problem = {"code": err.type, "message": err.message}
            else:
                raise
        try:
            rules = await rules_for(req.provider, req.base_model, small)
        except ApplicationError as err:
            if not err.non_retryable:
                raise
            # Nothing to count the tokens with: the base-model problem is the report.
            problem = base_model_problem or {"code": err.type, "message": err.message}
            return DatasetInspection(ok=False, report={"ok": False, "base_model": problem})
        fmt = "dpo" if req.method == TrainingMethod.dpo.value else "chat"
        with tempfile.TemporaryDirectory(prefix="trainer-check-") as spool:
            analysis, report = await fetch_and_analyse(
                Path(spool) / "dataset.jsonl",
                uri=req.dataset_uri,
                tenant_id=req.tenant_id,
                fmt=fmt,
                base_model=req.base_model,
                datasheet=req.datasheet,
                restrictions=req.restrictions,
                n_epochs=req.n_epochs,
                settings=small,
                rules=rules,
            )
        report["base_model"] = base_model_problem or {"code": "ok", "message": req.base_model}
        ok = analysis.ok and base_model_problem is None
        report["ok"] = ok
        return DatasetInspection(ok=ok, report=report)

    async def _check_base_model(self, provider_name: str, base_model: str) -> date | None:
        today = datetime.now(UTC).date()
        refuse_closed_provider(provider_name, self._deps.settings, today)
        provider = provider_for(self._deps, provider_name)
        try:
            info = await provider.base_model_info(base_model)
        except ProviderError as err:
            raise provider_failure(err) from None
        if info is None:
            raise non_retryable(
                "base_model_unknown", f"baseModel '{base_model}' is unknown to {provider_name}"
            )
        if not info.fine_tunable:
            raise non_retryable(
                "base_model_not_fine_tunable", f"baseModel '{base_model}' cannot be fine-tuned"
            )
        window = timedelta(days=self._deps.settings.base_model_shutdown_window_days)
        if info.shutdown_date is not None and info.shutdown_date - today <= window:
            raise non_retryable(
                "base_model_retiring",
                f"baseModel '{base_model}' shuts down on {info.shutdown_date.isoformat()}, "
                f"within {window.days} days; choose a newer base model",
            )
        return info.shutdown_date
