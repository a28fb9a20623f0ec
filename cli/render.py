"""Rich renderables for jobs, job lists, evaluations, promotions and dataset reports."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from cli.formatting import (
    count,
    duration,
    interval,
    money,
    number,
    signed,
    styled_status,
    timestamp,
)
from cli.models import Evaluation, Job, JobList, PromotionBrief, SuiteScore


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


def job_list_table(page: JobList) -> RenderableType:
    table = Table(box=box.SIMPLE_HEAVY, header_style="bold")
    table.add_column("ID", no_wrap=True)
    table.add_column("Name")
    table.add_column("Tenant")
    table.add_column("Status")
    table.add_column("Stage")
    table.add_column("Base model")
    table.add_column("Step", justify="right")
    table.add_column("Created", no_wrap=True)
    for job in page.jobs:
        table.add_row(
            job.id,
            Text(job.name),
            Text(job.tenant_id or "-"),
            styled_status(job.status),
            job.stage,
            Text(job.base_model),
            step_text(job),
            timestamp(job.created_at),
        )
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
        grid.add_row(
            "evaluation",
            f"{styled_status(ev.status)}  pedagogy {number(ev.pedagogy_score)}  "
            f"safety {number(ev.safety_score)}  overall {number(ev.overall_score)}",
        )
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


def _suite_row(
    suite: SuiteScore, baseline: SuiteScore | None, delta: tuple[float | None, str]
) -> list[RenderableType]:
    return [
        Text(suite.suite),
        suite.category or "-",
        str(suite.n),
        f"[green]{suite.passed}[/]",
        f"[red]{suite.failed}[/]" if suite.failed else "0",
        f"[yellow]{suite.errored}[/]" if suite.errored else "0",
        number(suite.mean),
        interval(suite.ci_low, suite.ci_high),
        number(baseline.mean) if baseline else "-",
        _delta_markup(*delta),
    ]


def _delta_markup(mean: float | None, ci: str) -> str:
    if mean is None:
        return "-"
    style = "green" if mean > 0 else "red" if mean < 0 else ""
    text = f"{signed(mean)} {ci}" if ci != "-" else signed(mean)
    return f"[{style}]{text}[/]" if style else text


def evaluation_view(evaluation: Evaluation) -> RenderableType:
    verdict = "passed" if evaluation.passed else evaluation.status
    heading = Text.from_markup(
        f"[bold]Evaluation[/] {evaluation.id}: {styled_status(verdict)}   "
        f"pedagogy {number(evaluation.pedagogy_score)}  "
        f"safety {number(evaluation.safety_score)}  "
        f"overall {number(evaluation.overall_score)}"
    )
    parts: list[RenderableType] = [heading]
    thresholds = {k: v for k, v in evaluation.thresholds.items() if v is not None}
    if thresholds:
        parts.append(
            Text("thresholds: " + ", ".join(f"{k} >= {v}" for k, v in thresholds.items()),
                 style="dim")
        )
    results = evaluation.results
    if results.failed_thresholds:
        parts.append(Text(f"failed thresholds: {', '.join(results.failed_thresholds)}",
                          style="red"))
    if evaluation.error_message:
        parts.append(Text(f"error: {evaluation.error_message}", style="red"))
    if results.suites:
        parts.append(suite_table(evaluation))
    return Group(*parts)


def suite_table(evaluation: Evaluation) -> Table:
    results = evaluation.results
    baseline = {s.suite: s for s in results.baseline_suites}
    deltas = {d.suite: d for d in results.deltas}
    has_baseline = bool(baseline or deltas)
    table = Table(box=box.SIMPLE_HEAVY, header_style="bold")
    for name, justify in (
        ("Suite", "left"), ("Category", "left"), ("n", "right"), ("Passed", "right"),
        ("Failed", "right"), ("Errored", "right"), ("Mean", "right"), ("95% CI", "center"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    if has_baseline:
        table.add_column("Baseline", justify="right")
        table.add_column("Δ vs baseline (95% CI)", justify="right")
    for suite in results.suites:
        d = deltas.get(suite.suite)
        delta = (d.mean, interval(d.ci_low, d.ci_high)) if d else (None, "-")
        row = _suite_row(suite, baseline.get(suite.suite), delta)
        table.add_row(*(row if has_baseline else row[:8]))
    if has_baseline and evaluation.baseline_model:
        table.caption = f"baseline: {evaluation.baseline_model}"
    return table


def validation_view(report: dict[str, Any]) -> RenderableType:
    """The dataset report of POST /trainer/datasets/validate, drawn from whatever of
    `ok`, `stats`, `errors`, `warnings` (directly or under `dataset`) it carries."""
    body = report.get("dataset") if isinstance(report.get("dataset"), dict) else report
    assert isinstance(body, dict)
    ok = report.get("ok", body.get("ok"))
    parts: list[RenderableType] = []
    if ok is not None:
        parts.append(
            Text.from_markup("[bold green]Dataset is valid[/]" if ok
                             else "[bold red]Dataset has errors[/]")
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
