"""The evaluation report: scores (with their intervals and methods) against thresholds, then
one row per suite with its mean, 95% interval and the method behind it, pass/fail/error
counts and, when there is one, the paired delta against the baseline model. Narrow
terminals get a compact table."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from cli.formatting import interval, number, signed, styled_status
from cli.models import Evaluation, GateResult, JudgeRecord, PairedDelta, SuiteScore
from cli.render_intervals import deltas_text, method_cell, scores_text

WIDE = 150  # columns the full table needs


def _counts(suite: SuiteScore) -> tuple[str, str, str]:
    return (
        f"[green]{suite.passed}[/]",
        f"[red]{suite.failed}[/]" if suite.failed else "0",
        f"[yellow]{suite.errored}[/]" if suite.errored else "0",
    )


def _compact_interval(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"{low:.2f}\u2013{high:.2f}"


def _delta(delta: PairedDelta | None, wide: bool) -> str:
    if delta is None or delta.mean is None:
        return "-"
    text = signed(delta.mean, 3 if wide else 2)
    if delta.ci_low is not None and delta.ci_high is not None:
        # Narrow tables put the interval under the delta, keeping the column narrow.
        shown = (
            interval(delta.ci_low, delta.ci_high)
            if wide
            else _compact_interval(delta.ci_low, delta.ci_high)
        )
        method = method_cell(delta.method, wide=False)
        text += f" {shown} {method}" if wide else f" {method}\n{shown}"
    style = "green" if delta.mean > 0 else "red" if delta.mean < 0 else ""
    return f"[{style}]{text}[/]" if style else text


def suite_table(evaluation: Evaluation, width: int = 200) -> Table:
    results = evaluation.results
    baselines = {s.suite: s for s in results.baseline_suites}
    deltas = {d.suite: d for d in results.deltas}
    compared = bool(baselines or deltas)
    wide = width >= WIDE
    table = Table(
        box=box.SIMPLE_HEAVY if wide else box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=wide,
    )
    table.add_column("Suite", no_wrap=not wide, overflow="fold")
    if wide:
        table.add_column("Category")
    table.add_column("n", justify="right")
    if wide:
        for name in ("Passed", "Failed", "Errored"):
            table.add_column(name, justify="right")
    else:
        table.add_column("p/f/e", justify="center")
    table.add_column("Mean", justify="right")
    table.add_column("95% CI", justify="center", no_wrap=True)
    table.add_column("Method" if wide else "How")
    # Narrow tables leave out the baseline's mean: the delta and its interval say more.
    if compared and wide:
        table.add_column("Baseline", justify="right")
    if compared:
        table.add_column(
            "Δ vs baseline (95% CI)" if wide else "Δ (95% CI)", justify="right", no_wrap=wide
        )
    for suite in results.suites:
        passed, failed, errored = _counts(suite)
        cells: list[RenderableType] = [Text(suite.suite)]
        if wide:
            cells += [suite.category or "-", str(suite.n), passed, failed, errored]
            cells += [number(suite.mean), interval(suite.ci_low, suite.ci_high)]
        else:
            cells += [str(suite.n), f"{passed}/{failed}/{errored}"]
            cells += [number(suite.mean, 2), _compact_interval(suite.ci_low, suite.ci_high)]
        cells.append(method_cell(suite.interval_method, wide))
        if compared:
            base = baselines.get(suite.suite)
            if wide:
                cells.append(number(base.mean) if base else "-")
            cells.append(_delta(deltas.get(suite.suite), wide))
        table.add_row(*cells)
    if compared and evaluation.baseline_model:
        table.caption = f"baseline: {evaluation.baseline_model}"
    return table


def judge_line(judge: JudgeRecord) -> Text:
    """The judge and prompt version; suites whose judge is not calibrated are named."""
    text = Text(f"judge {judge.model} (prompt {judge.prompt_version})", style="dim")
    untrusted = [s for s in judge.suites if s.status != "calibrated"]
    if not untrusted:
        text.append(": calibrated on every model-graded suite" if judge.suites else "")
        return text
    floor = f" < {judge.agreement_floor:.2f}" if judge.agreement_floor is not None else ""
    named = ", ".join(
        f"{s.suite} ({s.status}"
        + (f", agreement {s.agreement:.2f}{floor}" if s.agreement is not None else "")
        + ")"
        for s in untrusted
    )
    text.append(f"; judge not trusted on: {named}", style="yellow")
    return text


_BOUNDS = {"lower_bound": "lower bound", "upper_bound": "upper bound"}


def gate_line(gate: GateResult) -> Text:
    """`safety_score lower bound 0.71 (wilson, n=26) < 0.80: fail`."""
    keeps, breaks = ("<=", ">") if gate.kind == "maximum" else (">=", "<")
    bound = _BOUNDS.get(gate.gate)
    name = f"{gate.score} {bound}" if bound else gate.score
    if gate.value is None:
        shown = f"{name} unavailable, required {keeps} {gate.threshold:.2f}"
    else:
        relation = keeps if gate.passed else breaks
        source = f" ({gate.method}, n={gate.n})" if bound else ""
        shown = f"{name} {gate.value:.2f}{source} {relation} {gate.threshold:.2f}"
    verdict = "pass" if gate.passed else "fail"
    return Text(f"{shown}: {verdict}", style="green" if gate.passed else "red")


def evaluation_view(evaluation: Evaluation, width: int = 200) -> RenderableType:
    verdict = "passed" if evaluation.passed else evaluation.status
    parts: list[RenderableType] = [
        Text.from_markup(f"[bold]Evaluation[/] {evaluation.id}: {styled_status(verdict)}"),
        scores_text(evaluation),
    ]
    if (deltas := deltas_text(evaluation)) is not None:
        parts.append(deltas)
    thresholds = {k: v for k, v in evaluation.thresholds.items() if v is not None}
    if thresholds:
        parts.append(
            Text(
                "thresholds: " + ", ".join(f"{k} >= {v}" for k, v in thresholds.items()),
                style="dim",
            )
        )
    results = evaluation.results
    parts += [gate_line(gate) for gate in results.gates]
    if results.failed_thresholds and not results.gates:
        parts.append(
            Text(f"failed thresholds: {', '.join(results.failed_thresholds)}", style="red")
        )
    if evaluation.error_message:
        parts.append(Text(f"error: {evaluation.error_message}", style="red"))
    parts += [Text(f"warning: {warning}", style="yellow") for warning in results.warnings]
    if results.judge is not None:
        parts.append(judge_line(results.judge))
    if results.suites:
        parts.append(suite_table(evaluation, width))
    return Group(*parts)
