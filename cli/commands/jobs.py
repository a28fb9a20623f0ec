"""submit, list, show, watch, cancel."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands.options import Interval, JobId, JsonFlag
from cli.errors import EXIT_JOB_UNSUCCESSFUL
from cli.files import load_json_object
from cli.models import Evaluation, Job, JobList, JobStatus
from cli.render import job_list_table, job_panel, promotion_view
from cli.render_evaluation import evaluation_view
from cli.session import Session, open_session
from cli.watch import Snapshot, follow_live, poll_until_done


def finish(session: Session, snapshot: Snapshot) -> None:
    """Print how the job ended (evaluation table, promotion); exit 4 unless it completed."""
    job = snapshot.job
    evaluation_raw = session.api.get_evaluation(job.id) if job.evaluation else None
    if session.json:
        session.emit_json({"job": snapshot.raw, "evaluation": evaluation_raw})
    else:
        session.show("", job_panel(job))
        if evaluation_raw is not None:
            evaluation = Evaluation.model_validate(evaluation_raw)
            session.show("", evaluation_view(evaluation, session.out.width))
        session.show("", promotion_view(job.promotion))
    if job.status != "completed":
        raise typer.Exit(EXIT_JOB_UNSUCCESSFUL)


def follow(session: Session, job_id: str, interval: float) -> None:
    if session.json:
        snapshot = poll_until_done(session.api, job_id, interval)
    else:
        snapshot = follow_live(session.api, job_id, session.out, interval)
    finish(session, snapshot)


def submit(
    ctx: typer.Context,
    job_file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
            help="The job request (JSON, as for POST /trainer/jobs)",
        ),
    ],
    follow_job: Annotated[
        bool, typer.Option("--follow", "-f", help="Watch the job until it ends")
    ] = False,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key", help="Resubmitting with the same key returns the same job"
        ),
    ] = None,
    interval: Interval = 2.0,
    json_output: JsonFlag = False,
) -> None:
    """Submit a fine-tuning job."""
    with open_session(ctx, json_output) as session:
        body = load_json_object(job_file)
        raw = session.api.create_job(body, idempotency_key)
        job = Job.model_validate(raw)
        if not follow_job:
            if session.json:
                session.emit_json(raw)
            else:
                session.show(f"Submitted job [bold]{job.id}[/] ({job.status})")
                session.show(f"Follow it with: trainer watch {job.id}")
            return
        if not session.json:
            session.show(f"Submitted job [bold]{job.id}[/]")
        follow(session, job.id, interval)


def list_jobs(
    ctx: typer.Context,
    status: Annotated[
        JobStatus | None, typer.Option("--status", help="Only jobs in this status")
    ] = None,
    provider: Annotated[
        str | None, typer.Option("--provider", help="Only jobs of this provider")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    json_output: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    with open_session(ctx, json_output) as session:
        raw = session.api.list_jobs(status.value if status else None, provider, limit, offset)
        if session.json:
            session.emit_json(raw)
            return
        session.show(job_list_table(JobList.model_validate(raw), session.out.width))


def show(ctx: typer.Context, job_id: JobId, json_output: JsonFlag = False) -> None:
    """Show one job."""
    with open_session(ctx, json_output) as session:
        raw = session.api.get_job(job_id)
        if session.json:
            session.emit_json(raw)
            return
        job = Job.model_validate(raw)
        session.show(job_panel(job))


def watch(
    ctx: typer.Context, job_id: JobId, interval: Interval = 2.0, json_output: JsonFlag = False
) -> None:
    """Follow a job live until it ends, then show its evaluation and promotion.

    Exits 0 when the job completed and 4 when it failed or was cancelled.
    """
    with open_session(ctx, json_output) as session:
        follow(session, job_id, interval)


def cancel(
    ctx: typer.Context,
    job_id: JobId,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason", help="Recorded with the job (sent as the workflow's cancel signal)"
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Cancel a job that has not finished."""
    with open_session(ctx, json_output) as session:
        session.api.cancel_job(job_id, reason)
        if session.json:
            session.emit_json({"id": job_id, "status": "cancelling"})
        else:
            session.show(f"Cancelling job [bold]{job_id}[/]")
