"""approve, reject, evaluate, promote."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.commands.options import Interval, JobId, JsonFlag
from cli.errors import EXIT_JOB_UNSUCCESSFUL
from cli.models import Evaluation, Promotion, PromotionBrief
from cli.render import promotion_view
from cli.render_evaluation import evaluation_view
from cli.session import Session, open_session

Note = Annotated[
    str, typer.Option("--note", help="Why; recorded with the decision", show_default=False)
]
Reviewer = Annotated[
    str | None,
    typer.Option("--reviewer", help="Who decides (default: the token's subject)"),
]
RUNNING = {"pending", "running"}


def _decide(
    ctx: typer.Context,
    decision: str,
    job_id: str,
    note: str,
    reviewer: str | None,
    json_output: bool,
) -> None:
    with open_session(ctx, json_output) as session:
        raw = session.api.decide(job_id, decision, reviewer, note)
        if session.json:
            session.emit_json(raw)
            return
        state: dict[str, Any] = raw if isinstance(raw, dict) else {}
        verb = "Approved" if decision == "approve" else "Rejected"
        stage = state.get("stage")
        session.show(
            f"{verb} job [bold]{job_id}[/]"
            + (
                f"; it is now {escape(str(state.get('status')))} (stage {escape(stage)})"
                if stage
                else ""
            )
        )


def approve(
    ctx: typer.Context,
    job_id: JobId,
    note: Note,
    reviewer: Reviewer = None,
    json_output: JsonFlag = False,
) -> None:
    """Approve promotion of a job awaiting approval."""
    _decide(ctx, "approve", job_id, note, reviewer, json_output)


def reject(
    ctx: typer.Context,
    job_id: JobId,
    note: Note,
    reviewer: Reviewer = None,
    json_output: JsonFlag = False,
) -> None:
    """Reject promotion of a job awaiting approval."""
    _decide(ctx, "reject", job_id, note, reviewer, json_output)


def _wait_for_evaluation(session: Session, evaluation_id: str, interval: float) -> Any:
    while True:
        raw = session.api.request("GET", f"/trainer/evaluations/{evaluation_id}")
        if raw.get("status") not in RUNNING:
            return raw
        time.sleep(interval)


def evaluate(
    ctx: typer.Context,
    job_id: JobId,
    name: Annotated[str, typer.Option("--name", help="Name of the evaluation run")] = (
        "evaluation from the CLI"
    ),
    pedagogy_suites: Annotated[
        list[str] | None,
        typer.Option(
            "--pedagogy-suite",
            help="Pedagogy suite to run (repeatable; default: the service's pedagogy suites)",
        ),
    ] = None,
    safety_suites: Annotated[
        list[str] | None,
        typer.Option(
            "--safety-suite",
            help="Safety suite to run (repeatable; default: the service's safety suites)",
        ),
    ] = None,
    min_pedagogy: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    min_safety: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    min_overall: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the results")] = True,
    interval: Interval = 2.0,
    json_output: JsonFlag = False,
) -> None:
    """Evaluate a completed job's fine-tuned model again.

    With --wait (the default) exits 0 when the evaluation passed and 4 otherwise.
    """
    harness: dict[str, Any] = {}
    if pedagogy_suites:
        harness["pedagogy_tests"] = pedagogy_suites
    if safety_suites:
        harness["safety_tests"] = safety_suites
    body = {
        "name": name,
        "harness_config": harness,
        "thresholds": {
            "pedagogy_score": min_pedagogy,
            "safety_score": min_safety,
            "overall_score": min_overall,
        },
    }
    with open_session(ctx, json_output) as session:
        raw = session.api.start_evaluation(job_id, body)
        if wait:
            if not session.json:
                with session.out.status(f"evaluating job {job_id}"):
                    raw = _wait_for_evaluation(session, raw["id"], interval)
            else:
                raw = _wait_for_evaluation(session, raw["id"], interval)
        if session.json:
            session.emit_json(raw)
        else:
            session.show(evaluation_view(Evaluation.model_validate(raw), session.out.width))
        if wait and not raw.get("passed"):
            raise typer.Exit(EXIT_JOB_UNSUCCESSFUL)


def promote(
    ctx: typer.Context,
    job_id: JobId,
    force: Annotated[
        bool, typer.Option("--force", help="Promote even without a passing evaluation (admin)")
    ] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Recorded in the promotion's metadata")
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Promote a completed job's model to the Model Registry."""
    with open_session(ctx, json_output) as session:
        raw = session.api.promote(job_id, force, reason)
        if session.json:
            session.emit_json(raw)
            return
        promotion = Promotion.model_validate(raw)
        session.show(promotion_view(PromotionBrief.model_validate(promotion.model_dump())))
        if promotion.error_message:
            session.show(f"[red]{escape(promotion.error_message)}[/]")
        if not promotion.promoted:
            raise typer.Exit(EXIT_JOB_UNSUCCESSFUL)
