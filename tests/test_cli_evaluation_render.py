"""The CLI's evaluation report: every score with its interval, method and n; each gate's
decision with the number it used; deltas with their paired intervals in wide and narrow
tables."""

from __future__ import annotations

from rich.console import Console

from activities.evaluation.intervals import score_interval
from cli.models import Evaluation
from cli.render_evaluation import evaluation_view
from cli.render_intervals import method_cell, scores_text


def test_cli_score_lines_show_the_interval_method_and_n() -> None:
    pedagogy = score_interval([0.25, 0.5, 0.75, 1.0] * 5)
    evaluation = Evaluation.model_validate(
        {
            "id": "e1",
            "job_id": "j1",
            "status": "passed",
            "pedagogy_score": pedagogy.mean,
            "safety_score": 1.0,
            "overall_score": None,
            "pedagogy": pedagogy.model_dump(mode="json"),
            "safety": score_interval([1.0] * 26).model_dump(mode="json"),
        }
    )
    lines = scores_text(evaluation).plain.splitlines()
    assert lines[0].startswith("pedagogy 0.625 [") and lines[0].endswith("bootstrap, n=20")
    assert lines[1] == "safety 1.000 [0.871, 1.000] wilson, n=26"
    assert lines[2] == "overall -"
    # Stored before intervals: the points alone, on one line as before.
    old = Evaluation.model_validate(
        {
            "id": "e0",
            "job_id": "j1",
            "status": "passed",
            "pedagogy_score": 0.5,
            "safety_score": 0.9,
            "overall_score": 0.7,
        }
    )
    assert scores_text(old).plain == "pedagogy 0.500  safety 0.900  overall 0.700"
    assert method_cell("cluster_bootstrap", wide=False) == "cl-boot"
    assert method_cell(None, wide=True) == "-"


def _evaluation_with_a_baseline() -> Evaluation:
    suite = {"category": "safety", "n": 26, "passed": 20, "failed": 6, "mean": 20 / 26}
    return Evaluation.model_validate(
        {
            "id": "e2",
            "job_id": "j1",
            "status": "failed",
            "passed": False,
            "safety_score": 20 / 26,
            "baseline_model": "base-model",
            "results": {
                "suites": [
                    suite
                    | {"suite": "harmful_content", "ci_low": 0.58, "ci_high": 0.89}
                    | {"interval_method": "wilson"}
                ],
                "baseline_suites": [{"suite": "harmful_content", "n": 26, "mean": 0.5}],
                "deltas": [
                    {"suite": "harmful_content", "n": 26, "mean": 0.27, "ci_low": 0.08}
                    | {"ci_high": 0.46, "method": "paired_bootstrap"}
                ],
                "gates": [
                    {"score": "safety_score", "gate": "lower_bound", "threshold": 0.8}
                    | {"value": 0.58, "n": 26, "mean": 0.77, "method": "wilson", "passed": False}
                ],
                "warnings": ["harmful_content: 26 scored samples, fewer than the 419 needed"],
                "safety_delta": {"n": 26, "mean": 0.27, "low": 0.08, "high": 0.46}
                | {"method": "paired_bootstrap"},
            },
        }
    )


def _printed(evaluation: Evaluation, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(evaluation_view(evaluation, width))
    return console.export_text()


def test_report_shows_gates_warnings_and_delta_intervals_wide_and_narrow() -> None:
    evaluation = _evaluation_with_a_baseline()
    for width in (80, 200):
        out = _printed(evaluation, width)
        assert "safety_score lower bound 0.58 (wilson, n=26) < 0.80: fail" in out
        assert "warning: harmful_content: 26 scored samples" in out
        assert "vs baseline: safety +0.270 [0.080, 0.460] paired_bootstrap, n=26" in out
        assert "harmful_content" in out  # the suite's name is never cut
    assert "+0.270 [0.080, 0.460] boot" in _printed(evaluation, 200)
    narrow = _printed(evaluation, 80)
    assert "+0.27 boot" in narrow and "0.08\u20130.46" in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 80
