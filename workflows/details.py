"""What the Temporal UI shows as a training run's current details (pure rendering)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.evaluation import ScoreInterval
    from core.models import JobStage, JobState


def _score(name: str, point: float | None, interval: ScoreInterval | None) -> str:
    """`pedagogy 0.750 [0.650, 0.850] bootstrap, n=50` (the point alone without one)."""
    if interval is None or interval.low is None or interval.high is None:
        return f"{name} {point:.3f}" if point is not None else f"{name} -"
    shown = interval.mean if interval.mean is not None else point
    return (
        f"{name} {shown:.3f} [{interval.low:.3f}, {interval.high:.3f}] "
        f"{interval.method.value}, n={interval.n}"
    )


def render_details(state: JobState, workflow_id: str, run_number: int) -> str:
    progress = state.progress
    lines = [f"**{state.status.value}** · stage `{state.stage.value}`"]
    if run_number > 1:
        lines.append(f"run {run_number} (continued as new to keep its history short)")
    if state.provider_job_id:
        lines.append(f"provider job `{state.provider_job_id}`")
    if progress.step is not None and progress.total_steps:
        loss = f" · train loss {progress.train_loss:.3f}" if progress.train_loss else ""
        lines.append(f"step {progress.step}/{progress.total_steps}{loss}")
    if state.fine_tuned_model:
        lines.append(f"model `{state.fine_tuned_model}`")
    if state.evaluation is not None:
        ev = state.evaluation
        pedagogy = _score("pedagogy", ev.pedagogy_score, ev.pedagogy)
        safety = _score("safety", ev.safety_score, ev.safety)
        lines.append(f"evaluation {ev.status}: {pedagogy}; {safety}")
    if state.stage == JobStage.awaiting_approval:
        lines.append(
            "Waiting for a reviewer. Approve: `temporal workflow update execute "
            f"--workflow-id {workflow_id} --name approve --input "
            '\'{"reviewer":"you","note":"why"}\'` (or `--name reject`), '
            "or POST /trainer/jobs/{id}/approve."
        )
    if state.error_message:
        lines.append(f"error: {state.error_message}")
    return "\n\n".join(lines)
