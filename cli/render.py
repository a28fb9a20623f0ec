"""Rich renderables for jobs, job lists, evaluations, promotions and dataset reports."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cli.formatting import count, duration, money, number, styled_status, timestamp
from cli.models import Job, JobList, PromotionBrief
from cli.render_intervals import scores_text


def _grid() -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold dim", no_wrap=True)
    grid.add_column()
    return grid


def step_text(job: Job) -> str:
    step, total = job.progress.step, job.progress.total_steps
    if step is None:
        return "-"
    return f"{step}/{total}" if total else str(step)


def status_text(job: Job) -> str:
    """The status, with the finer stage when it says more (e.g. awaiting_approval)."""
    if job.stage in (job.status, "done", "accepted"):
        return styled_status(job.status)
    return f"{styled_status(job.status)} · {job.stage}"


def job_list_table(page: JobList, width: int = 200) -> RenderableType:
    """Jobs as a table; narrower terminals drop the tenant, base model and creation time
    (never the id, which other commands take)."""
    wide, medium = width >= 150, width >= 110
    table = Table(box=box.SIMPLE_HEAVY, header_style="bold")
    table.add_column("ID", no_wrap=True, min_width=36)
    table.add_column("Name", overflow="fold", min_width=8)
    if medium:
        table.add_column("Tenant", overflow="fold")
    table.add_column("Status", overflow="fold")
    if wide:
        table.add_column("Base model", overflow="fold")
    table.add_column("Step", justify="right", no_wrap=True)
    if medium:
        table.add_column("Created (UTC)", no_wrap=True)
    for job in page.jobs:
        cells: list[RenderableType] = [job.id, Text(job.name)]
        if medium:
            cells.append(Text(job.tenant_id or "-"))
        cells.append(status_text(job))
        if wide:
            cells.append(Text(job.base_model))
        cells.append(step_text(job))
        if medium:
            cells.append(timestamp(job.created_at)[:16])
        table.add_row(*cells)
    shown = len(page.jobs)
    first = page.offset + 1 if shown else 0
    caption = f"{first}-{page.offset + shown} of {page.total} jobs"
    if page.offset + shown < page.total:
        caption += f" (next page: --offset {page.offset + shown})"
    table.caption = caption
    return table


def job_panel(job: Job) -> RenderableType:
    grid = _grid()
    grid.add_row("status", f"{styled_status(job.status)} (stage {job.stage})")
    grid.add_row("tenant", Text(job.tenant_id or "-"))
    grid.add_row("provider", Text(f"{job.provider} · {job.base_model}"))
    grid.add_row("dataset", Text(job.dataset_uri))
    grid.add_row("provider job", Text(job.provider_job_id or "-"))
    grid.add_row("fine-tuned model", Text(job.provider_model_id or "-"))
    progress = job.progress
    if progress.step is not None:
        grid.add_row(
            "training",
            f"step {step_text(job)}  train loss {number(progress.train_loss)}  "
            f"valid loss {number(progress.valid_loss)}",
        )
    grid.add_row("tokens · cost", f"{count(job.training_tokens)} · {money(job.training_cost)}")
    grid.add_row("training time", duration(job.training_duration))
    grid.add_row("created", timestamp(job.created_at))
    if job.completed_at:
        grid.add_row("completed", timestamp(job.completed_at))
    if job.evaluation:
        ev = job.evaluation
        verdict = Text.from_markup(styled_status(ev.status))
        grid.add_row("evaluation", Text.assemble(verdict, "\n", scores_text(ev)))
    if job.promotion:
        grid.add_row("promotion", promotion_line(job.promotion))
    if job.error_message:
        code = f"[{job.error_code}] " if job.error_code else ""
        grid.add_row("error", Text(f"{code}{job.error_message}", style="red"))
    if job.temporal_url:
        grid.add_row("workflow", Text(job.temporal_url, style="link " + job.temporal_url))
    title = f"[bold]{escape(job.name)}[/]  {job.id}"
    return Panel(grid, title=title, title_align="left", border_style="dim", expand=False)


def promotion_line(promotion: PromotionBrief) -> str:
    if promotion.promoted:
        return (
            f"[green]registered[/]  model {promotion.registry_model_id}  "
            f"version {promotion.registry_version_id}  "
            f"binding {promotion.registry_binding_id}"
        )
    reason = escape(promotion.promotion_reason or "no reason given")
    return f"[yellow]not promoted[/] ({reason})"


def promotion_view(promotion: PromotionBrief | None) -> RenderableType:
    if promotion is None:
        return Text("Promotion: none", style="dim")
    return Text.from_markup(f"[bold]Promotion[/]  {promotion_line(promotion)}")


def validation_view(report: dict[str, Any]) -> RenderableType:
    """The dataset report of POST /trainer/datasets/validate, drawn from whatever of
    `ok`, `stats`, `errors`, `warnings` (directly or under `dataset`) it carries."""
    body = report.get("dataset") if isinstance(report.get("dataset"), dict) else report
    assert isinstance(body, dict)
    ok = report.get("ok", body.get("ok"))
    parts: list[RenderableType] = []
    if ok is not None:
        parts.append(
            Text.from_markup(
                "[bold green]Dataset is valid[/]" if ok else "[bold red]Dataset has errors[/]"
            )
        )
    stats = body.get("stats")
    if isinstance(stats, dict) and stats:
        grid = _grid()
        for key, value in stats.items():
            if not isinstance(value, dict | list):
                grid.add_row(key.replace("_", " "), Text(str(value)))
        parts.append(grid)
    findings = Table(box=box.SIMPLE_HEAVY, header_style="bold")
    for column in ("Severity", "Kind", "Count", "First examples"):
        findings.add_column(column)
    for severity in ("errors", "warnings"):
        for item in _findings(report, body, severity):
            examples = "\n".join(_example(e) for e in (item.get("examples") or [])[:3])
            style = "red" if severity == "errors" else "yellow"
            findings.add_row(
                f"[{style}]{severity[:-1]}[/]",
                Text(str(item.get("kind", "-"))),
                str(item.get("count", "-")),
                Text(examples or str(item.get("message", ""))),
            )
    if findings.row_count:
        parts.append(findings)
    return Group(*parts)


def _findings(report: dict[str, Any], body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key, report.get(key)) or []
    return [i for i in items if isinstance(i, dict)]


def _example(example: Any) -> str:
    if not isinstance(example, dict):
        return str(example)
    where = f"line {example['line']}: " if example.get("line") else ""
    return f"{where}{example.get('message', '')}"
