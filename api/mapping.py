"""Store rows -> REST responses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from api.schemas import (
    EvaluationBrief,
    EvaluationResponse,
    EvaluationSampleResponse,
    JobEvent,
    PromotionBrief,
    PromotionResponse,
    TrainingJobResponse,
)
from core.dataset_uri import redact_uri
from core.evaluation import ScoreInterval
from core.gates import stored_gates
from core.models import TrainingProgress
from store.job_listing import LatestEvaluation, LatestPromotion
from store.rows import EvaluationRow, EventRow, JobRow, PromotionRow, SampleRow


def temporal_run_url(ui_base: str, namespace: str, workflow_id: str) -> str:
    return f"{ui_base.rstrip('/')}/namespaces/{namespace}/workflows/{workflow_id}"


def job_response(
    row: JobRow,
    *,
    evaluation: EvaluationRow | LatestEvaluation | None,
    promotion: PromotionRow | LatestPromotion | None,
    temporal_url: str | None,
) -> TrainingJobResponse:
    return TrainingJobResponse(
        id=str(row.id),
        name=row.name,
        description=row.description,
        status=row.status,
        provider=row.provider,
        base_model=row.base_model,
        dataset_uri=redact_uri(row.dataset_uri),  # presigned queries are credentials
        config=row.config,
        policy=row.policy,
        datasheet=row.datasheet,
        provider_job_id=row.provider_job_id,
        provider_model_id=row.provider_model_id,
        provider_metadata=row.provider_metadata or {},
        training_tokens=row.training_tokens,
        training_cost=row.training_cost,
        training_duration=row.training_duration,
        error_message=row.error_message,
        retry_count=row.retry_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        tenant_id=row.tenant_id,
        stage=row.stage,
        progress=TrainingProgress.model_validate(row.progress or {}),
        error_code=row.error_code,
        workflow_id=row.workflow_id,
        temporal_url=temporal_url,
        validation=row.validation_report,
        evaluation=evaluation_brief(evaluation) if evaluation else None,
        promotion=promotion_brief(promotion) if promotion else None,
    )


def _interval(results: Mapping[str, Any], name: str) -> ScoreInterval | None:
    """A category or overall interval from the stored summary (absent in summaries
    stored before intervals were reported)."""
    value = results.get(name)
    if not isinstance(value, dict):
        return None
    try:
        return ScoreInterval.model_validate(value)
    except ValidationError:
        return None


def evaluation_brief(row: EvaluationRow | LatestEvaluation) -> EvaluationBrief:
    # A full row has the whole stored summary; the job list reads only the parts it shows.
    if isinstance(row, EvaluationRow):
        results = row.results or {}
    else:
        results = {
            "pedagogy": row.pedagogy,
            "safety": row.safety,
            "overall": row.overall,
            "gates": row.gates,
        }
    return EvaluationBrief(
        id=str(row.id),
        status=row.status,
        pedagogy_score=row.pedagogy_score,
        safety_score=row.safety_score,
        overall_score=row.overall_score,
        passed=row.passed,
        pedagogy=_interval(results, "pedagogy"),
        safety=_interval(results, "safety"),
        overall=_interval(results, "overall"),
        gates=stored_gates(results.get("gates")),
    )


def promotion_brief(row: PromotionRow | LatestPromotion) -> PromotionBrief:
    return PromotionBrief(
        id=str(row.id),
        promoted=row.promoted,
        promotion_reason=row.promotion_reason,
        registry_model_id=row.registry_model_id,
        registry_version_id=row.registry_version_id,
        registry_binding_id=row.registry_binding_id,
    )


def evaluation_response(row: EvaluationRow) -> EvaluationResponse:
    return EvaluationResponse(
        id=str(row.id),
        job_id=str(row.job_id),
        name=row.name,
        description=row.description,
        status=row.status,
        harness_config=row.harness_config,
        thresholds=row.thresholds,
        pedagogy_score=row.pedagogy_score,
        safety_score=row.safety_score,
        overall_score=row.overall_score,
        passed=row.passed,
        results=row.results or {},
        metrics=row.metrics or {},
        error_message=row.error_message,
        retry_count=row.retry_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        model=row.model,
        baseline_model=row.baseline_model,
        pedagogy=_interval(row.results or {}, "pedagogy"),
        safety=_interval(row.results or {}, "safety"),
        overall=_interval(row.results or {}, "overall"),
    )


def sample_response(row: SampleRow) -> EvaluationSampleResponse:
    return EvaluationSampleResponse(
        role=row.role,
        suite=row.suite,
        sample_id=row.sample_id,
        model=row.model,
        input=row.input,
        output=row.output,
        verdicts=row.verdicts,
        score=row.score,
        passed=row.passed,
        errored=row.errored,
        error=row.error,
        contaminated=row.contaminated,
    )


def promotion_response(row: PromotionRow) -> PromotionResponse:
    return PromotionResponse(
        id=str(row.id),
        job_id=str(row.job_id),
        evaluation_id=str(row.evaluation_id) if row.evaluation_id else None,
        registry_model_id=row.registry_model_id,
        registry_version_id=row.registry_version_id,
        registry_binding_id=row.registry_binding_id,
        promoted=row.promoted,
        promotion_reason=row.promotion_reason,
        promotion_metadata=row.promotion_metadata or {},
        error_message=row.error_message,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decision=row.decision or {},
    )


def event_response(row: EventRow) -> JobEvent:
    return JobEvent(
        id=row.provider_event_id,
        created_at=row.created_at,
        level=row.level,
        type=row.type,
        message=row.message,
        data=row.data,
    )
