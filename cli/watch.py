"""Following a job: a live progress bar until the job ends, then its final state."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn

from cli.client import TrainerApi
from cli.formatting import eta, number
from cli.models import Job

STAGE_LABELS = {
    "accepted": "accepted",
    "validating": "validating dataset",
    "uploading": "uploading dataset",
    "queued_at_provider": "queued at provider",
    "training": "training",
    "evaluating": "evaluating",
    "awaiting_approval": "awaiting approval",
    "promoting": "promoting",
    "cancelling": "cancelling",
    "done": "done",
}


@dataclass
class Snapshot:
    """The last job seen and the raw body it came from."""

    job: Job
    raw: dict[str, Any]


def stage_label(job: Job) -> str:
    if job.is_terminal:
        return job.status
    return STAGE_LABELS.get(job.stage, job.stage.replace("_", " "))


def loss_text(job: Job) -> str:
    progress = job.progress
    if progress.train_loss is None:
        return ""
    text = f"loss {number(progress.train_loss)}"
    if progress.valid_loss is not None:
        text += f" · val {number(progress.valid_loss)}"
    return text


def fetch(api: TrainerApi, job_id: str) -> Snapshot:
    raw = api.get_job(job_id)
    return Snapshot(job=Job.model_validate(raw), raw=raw)


def poll_until_done(api: TrainerApi, job_id: str, interval: float) -> Snapshot:
    """Poll quietly (for --json) until the job reaches a terminal status."""
    snapshot = fetch(api, job_id)
    while not snapshot.job.is_terminal:
        time.sleep(interval)
        snapshot = fetch(api, job_id)
    return snapshot


def _progress(console: Console) -> Progress:
    return Progress(
        SpinnerColumn(finished_text="[green]✓[/]"),
        TextColumn("[bold]{task.description:<18}"),
        BarColumn(bar_width=max(10, min(40, console.width - 70))),
        TextColumn("{task.fields[steps]:>10}"),
        TextColumn("[dim]ETA[/] {task.fields[eta]:<6}"),
        TextColumn("{task.fields[loss]}"),
        console=console,
        refresh_per_second=8,
    )


def _update(progress: Progress, task: TaskID, job: Job) -> None:
    p = job.progress
    total = float(p.total_steps) if p.total_steps else None
    completed = float(p.step or 0)
    if job.status == "completed":
        total = total or 1.0
        completed = total
    steps = f"{p.step}/{p.total_steps}" if p.step is not None and p.total_steps else ""
    remaining = "-" if job.is_terminal else eta(p.estimated_finish)
    progress.update(
        task,
        description=stage_label(job),
        total=total,
        completed=completed,
        steps=f"step {steps}" if steps else "",
        eta=remaining,
        loss=loss_text(job),
    )


def follow_live(api: TrainerApi, job_id: str, console: Console, interval: float) -> Snapshot:
    """Show a live progress bar and stage changes until the job reaches a terminal status."""
    snapshot = fetch(api, job_id)
    started = time.monotonic()
    console.print(f"[bold]{escape(snapshot.job.name)}[/]  {snapshot.job.id}")
    with _progress(console) as progress:
        task = progress.add_task(stage_label(snapshot.job), total=None, steps="", eta="-", loss="")
        last_stage = ""
        while True:
            job = snapshot.job
            if job.stage != last_stage and not job.is_terminal:
                elapsed = time.monotonic() - started
                progress.console.print(f"[dim]{elapsed:7.1f}s[/]  stage {stage_label(job)}")
                if job.stage == "awaiting_approval":
                    progress.console.print(
                        "           [yellow]waiting for a decision:[/] "
                        f"trainer approve {job.id} --note '...'  "
                        f"(or trainer reject {job.id} --note '...')"
                    )
                last_stage = job.stage
            _update(progress, task, job)
            if job.is_terminal:
                progress.stop_task(task)
                break
            time.sleep(interval)
            snapshot = fetch(api, job_id)
    return snapshot
