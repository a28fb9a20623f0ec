"""Promotion: register model, version and provider binding in the Model Registry.

Every registry call is find-or-create, so a retry after a timeout or a worker killed
between two calls ends with exactly one model, one version and one binding. Promotions to
one registry model name take turns (a PostgreSQL advisory lock, across workers), so they
never insert the same name or version number at once. A version the registry has archived
cannot be reactivated and its hash cannot be registered again, so re-promoting onto it
answers `promoted: false` naming the archived version rather than claiming success.

The job's facts (tenant, name, provider, fine-tuned model, policy) come with the input;
only the evaluation's results and samples are read from the store, and for a self-hosted
job the adapter its training recorded in the job's provider metadata. That version carries
the adapter (URI, weights' sha256 as its hash, size, type, framework) and gets no binding:
the registry has no provider for self-hosted serving, which the promotion row records.
"""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.deps import ActivityDeps
from activities.promotion_gate import GateDecision, compare, decide, gate_policy
from activities.registry.adapter_version import (
    NO_BINDING_NOTE,
    REGISTRY_BINDING_PROVIDER,
    AdapterFacts,
    AdapterNotRecorded,
    adapter_facts,
    model_description,
)
from activities.registry.client import Binding, Model, Version
from activities.registry.errors import RegistryClientError, RegistryUnavailable
from activities.registry.model_lock import registry_model_lock
from core.metrics import timed_step
from core.models import Provider
from core.steps import PromoteInput, PromotionOutcome
from store import evaluations, job_records, promotions, samples
from store.rows import EvaluationRow


def registry_model_name(tenant_id: str, job_name: str) -> str:
    return f"{tenant_id}-{job_name}".strip().lower()[:255]


class PromotionActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self._deps = deps

    async def _champion_gate(
        self, req: PromoteInput, evaluation: EvaluationRow | None, model_id: str
    ) -> GateDecision | None:
        pool = self._deps.pool
        champion = await promotions.current_champion(pool, req.tenant_id, req.job_name, req.job_id)
        if champion is None or evaluation is None or champion.provider_model_id == model_id:
            return None
        champion_model = champion.provider_model_id
        evaluation_id = str(evaluation.id)
        if evaluation.baseline_model == champion_model:
            champion_scores = await samples.sample_scores(pool, evaluation_id, "baseline")
            compared_on = "baseline_run"
        elif champion.evaluation_id is not None:
            champion_scores = await samples.sample_scores(
                pool, str(champion.evaluation_id), "candidate"
            )
            compared_on = "champion_evaluation"
        else:
            champion_scores = {}
            compared_on = "nothing"
        candidate_scores = await samples.sample_scores(pool, evaluation_id, "candidate")
        categories = {
            s["suite"]: s["category"] for s in (evaluation.results or {}).get("suites", [])
        }
        return decide(
            compare(candidate_scores, champion_scores, categories),
            gate_policy(req.promotion_policy),
            champion_model=champion_model,
            compared_on=compared_on,
        )

    async def _register(
        self,
        req: PromoteInput,
        evaluation: EvaluationRow | None,
        model_id: str,
        adapter: tuple[AdapterFacts, str] | None,
    ) -> tuple[Model, Version, Binding | None]:
        """Find-or-create model, version and binding: each call is safe to repeat. One
        promotion per registry model name at a time, across workers. No binding (None) when
        the version exists but is archived, or for a self-hosted `adapter` (with its base
        model), which no registry provider serves."""
        name = registry_model_name(req.tenant_id, req.job_name)
        async with registry_model_lock(self._deps.settings.database_url, name):
            if adapter is not None:
                return (*await self._adapter_version(req, evaluation, name, *adapter), None)
            return await self._find_or_create(req, evaluation, model_id, name)

    async def _adapter_version(
        self,
        req: PromoteInput,
        evaluation: EvaluationRow | None,
        name: str,
        facts: AdapterFacts,
        base_model: str,
    ) -> tuple[Model, Version]:
        """Model and version of a self-hosted adapter: the version carries the adapter's
        folder, its weights' sha256 (the version hash), size, type and framework."""
        registry = self._deps.registry
        model = await registry.ensure_model(
            name,
            task="generation",
            description=model_description(req.job_description, facts, base_model),
        )
        version = await registry.ensure_version(
            model.id,
            fine_tuned_model_id=req.fine_tuned_model or "",
            eval_score=(evaluation.overall_score if evaluation else None),
            artifact_uri=facts.adapter_uri,
            model_type=facts.model_type,
            framework=facts.framework,
            hash=facts.weights_sha256,
            size_bytes=facts.size_bytes,
        )
        return model, version

    async def _adapter(self, req: PromoteInput) -> tuple[AdapterFacts, str] | None:
        """A self-hosted job's adapter record and base model (None for other providers);
        AdapterNotRecorded when the training step left none."""
        if req.provider is not Provider.self_hosted:
            return None
        job = await job_records.get_job(self._deps.pool, req.job_id, req.tenant_id)
        if job is None:
            raise AdapterNotRecorded("the job is gone")
        return adapter_facts(job.provider_metadata), job.base_model

    async def _find_or_create(
        self, req: PromoteInput, evaluation: EvaluationRow | None, model_id: str, name: str
    ) -> tuple[Model, Version, Binding | None]:
        registry = self._deps.registry
        model = await registry.ensure_model(
            name, task="generation", description=req.job_description
        )
        version = await registry.ensure_version(
            model.id,
            fine_tuned_model_id=model_id,
            eval_score=(evaluation.overall_score if evaluation else None),
            artifact_uri=(
                f"{self._deps.settings.public_base_url}/trainer/jobs/{req.job_id}/model-card"
            ),
            model_type="fine-tuned-chat",
            framework=req.provider.value,
        )
        if version.archived:
            return model, version, None
        binding = await registry.ensure_binding(
            version.id,
            provider=REGISTRY_BINDING_PROVIDER.get(req.provider.value, req.provider.value),
            provider_model_id=model_id,
            status="active",
        )
        return model, version, binding

    @activity.defn(name="promote_model")
    @timed_step
    async def promote_model(self, req: PromoteInput) -> PromotionOutcome:
        pool = self._deps.pool
        evaluation = (
            await evaluations.load_evaluation(pool, req.evaluation_id)
            if req.evaluation_id
            else None
        )
        decision: dict[str, Any] = {
            "evaluation_status": evaluation.status if evaluation else None,
            "overall_score": evaluation.overall_score if evaluation else None,
            "forced": req.force,
        }
        common: dict[str, Any] = {
            "promotion_id": req.promotion_id,
            "job_id": req.job_id,
            "evaluation_id": req.evaluation_id,
            "tenant_id": req.tenant_id,
            "forced": req.force,
            "metadata": req.metadata,
        }
        model_id = req.fine_tuned_model
        if not model_id:
            decision["outcome"] = "refused"
            reason = "the job produced no fine-tuned model"
            return await self._record(common, promoted=False, reason=reason, decision=decision)
        # Re-running a promotion that already succeeded only re-checks the registry records:
        # the decision to promote was made then, against the champion of that time.
        previous = await promotions.load_promotion(pool, req.promotion_id)
        already_promoted = previous is not None and previous.promoted
        refusal = None
        if already_promoted:
            pass
        elif req.metadata.get("approved") is False:
            refusal = (
                f"rejected by {req.metadata.get('reviewer')}: {req.metadata.get('note') or ''}"
            ).strip()
        elif not req.force and (evaluation is None or not evaluation.passed):
            refusal = (
                "no evaluation of this job"
                if evaluation is None
                else f"evaluation {evaluation.status}: thresholds not met"
            )
        if refusal is None and not req.force and not already_promoted:
            gate = await self._champion_gate(req, evaluation, model_id)
            if gate is not None:
                decision["champion"] = gate.model_dump(mode="json")
                if not gate.allowed:
                    refusal = f"champion/challenger: {gate.reason}"
        if refusal:
            decision["outcome"] = "refused"
            return await self._record(common, promoted=False, reason=refusal, decision=decision)

        reason = str(
            req.metadata.get("promotion_reason")
            or ("forced promotion" if req.force else "passed all evaluation thresholds")
        )
        try:
            adapter = await self._adapter(req)
        except AdapterNotRecorded as err:
            decision["outcome"] = "refused"
            return await self._record(common, promoted=False, reason=str(err), decision=decision)
        if adapter is not None:
            decision["artifact"] = adapter[0].recorded(adapter[1])
            decision["binding"] = {"created": False, "note": NO_BINDING_NOTE}
        try:
            model, version, binding = await self._register(req, evaluation, model_id, adapter)
        except RegistryUnavailable as err:
            # Retried by Temporal with backoff: an outage delays promotion, never loses it.
            raise ApplicationError(
                f"registry unavailable: {err}", type="registry_unavailable"
            ) from None
        except RegistryClientError as err:
            decision["outcome"] = "registry_rejected"
            await promotions.upsert_promotion(
                pool,
                promoted=False,
                reason="registry rejected the promotion",
                decision=decision,
                error_message=err.message,
                **common,
            )
            raise ApplicationError(
                f"registry rejected the promotion: {err.message}",
                type="registry_rejected",
                non_retryable=True,
            ) from None
        if version.archived or (binding is None and adapter is None):
            return await self._archived(model, version, decision, common)
        if req.completes_failed_job:
            # The job failed only at promotion; now that it is promoted it is complete.
            await promotions.complete_failed_job(pool, req.job_id)
        decision["outcome"] = "promoted"
        if adapter is not None:
            reason = f"{reason}; {NO_BINDING_NOTE}"
        return await self._record(
            common,
            promoted=True,
            reason=reason,
            decision=decision,
            model=model,
            version=version,
            binding=binding,
        )

    async def _archived(
        self,
        model: Model,
        version: Version,
        decision: dict[str, Any],
        common: dict[str, Any],
    ) -> PromotionOutcome:
        """The job's version exists but the registry archived it (it keeps only the newest
        few). The contract has no way to reactivate it, and the version hash of this model
        is taken, so a new version cannot be made: report it, promote nothing."""
        archived_at = version.archived_at.isoformat() if version.archived_at else "unknown"
        reason = (
            f"registry version {version.version} (id {version.id}) of model {model.name!r} "
            f"was archived at {archived_at}; the registry cannot reactivate it, so the model "
            "is not promoted"
        )
        decision["outcome"] = "archived"
        decision["archived_version"] = {
            "id": str(version.id),
            "version": version.version,
            "archived_at": archived_at,
        }
        return await self._record(
            common, promoted=False, reason=reason, decision=decision, model=model, version=version
        )

    async def _record(
        self,
        common: dict[str, Any],
        *,
        promoted: bool,
        reason: str,
        decision: dict[str, Any],
        model: Model | None = None,
        version: Version | None = None,
        binding: Binding | None = None,
    ) -> PromotionOutcome:
        """Store the promotion's outcome and answer with the same facts."""
        model_id = str(model.id) if model else None
        version_id = str(version.id) if version else None
        binding_id = str(binding.id) if binding else None
        await promotions.upsert_promotion(
            self._deps.pool,
            promoted=promoted,
            reason=reason,
            decision=decision,
            registry_model_id=model_id,
            registry_version_id=version_id,
            registry_binding_id=binding_id,
            **common,
        )
        return PromotionOutcome(
            promotion_id=common["promotion_id"],
            promoted=promoted,
            reason=reason,
            registry_model_id=model_id,
            registry_version_id=version_id,
            registry_binding_id=binding_id,
        )
