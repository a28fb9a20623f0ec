"""How the evaluation report shows a score's interval and the method behind it: the
category and overall lines, and the suite table's method column."""

from __future__ import annotations

from rich.text import Text

from cli.formatting import interval, number, signed
from cli.models import Evaluation, EvaluationBrief, ScoreRange

# Short names for narrow tables; the wide table and the score lines use the full ones.
SHORT_METHODS = {
    "wilson": "wilson",
    "wilson_bounded": "bound",
    "bootstrap": "boot",
    "cluster_bootstrap": "cl-boot",
    "stratified_bootstrap": "st-boot",
    "combined_bounds": "bound",
    "paired_bootstrap": "boot",
    "paired_cluster_bootstrap": "cl-boot",
    "paired_discordant_bound": "bound",
    "paired_bounded": "bound",
}


def method_cell(method: str | None, wide: bool) -> str:
    if method is None or method == "none":
        return "-"
    return method if wide else SHORT_METHODS.get(method, method)


def score_part(name: str, point: float | None, view: ScoreRange | None) -> str:
    """`pedagogy 0.750 [0.650, 0.850] bootstrap, n=50` (the point alone without one)."""
    if view is None or view.low is None or view.high is None:
        return f"{name} {number(point)}"
    clusters = (
        f", {view.clusters} clusters"
        if view.clusters is not None and view.clusters != view.n
        else ""
    )
    shown = view.mean if view.mean is not None else point
    return (
        f"{name} {number(shown)} {interval(view.low, view.high)} "
        f"{view.method}, n={view.n}{clusters}"
    )


def scores_text(evaluation: Evaluation | EvaluationBrief) -> Text:
    """The category and overall scores with their intervals, one per line when there are
    intervals, else on one line (evaluations stored before intervals were reported)."""
    points = (evaluation.pedagogy_score, evaluation.safety_score, evaluation.overall_score)
    views = (evaluation.pedagogy, evaluation.safety, evaluation.overall)
    parts = [
        score_part(name, point, view)
        for name, point, view in zip(("pedagogy", "safety", "overall"), points, views, strict=True)
    ]
    separator = "\n" if any(v is not None and v.low is not None for v in views) else "  "
    return Text(separator.join(parts))


def deltas_text(evaluation: Evaluation) -> Text | None:
    """`vs baseline: pedagogy +0.420 [0.310, 0.530] paired_bootstrap, n=52; safety ...`
    (None without a baseline)."""
    results = evaluation.results
    parts = []
    for name, view in (("pedagogy", results.pedagogy_delta), ("safety", results.safety_delta)):
        if view is None or view.mean is None:
            continue
        shown = f"{name} {signed(view.mean, 3)}"
        if view.low is not None and view.high is not None:
            shown += f" {interval(view.low, view.high)} {view.method}, n={view.n}"
        parts.append(shown)
    return Text("vs baseline: " + "; ".join(parts)) if parts else None
