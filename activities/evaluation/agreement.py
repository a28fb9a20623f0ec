"""Agreement between the rubric judge and human verdicts: share of matching verdicts and
Cohen's kappa, from the 2x2 confusion matrix.

Computed with numpy rather than `sklearn.metrics.cohen_kappa_score`: scikit-learn would be
a heavy dependency (and a compiled one) for a four-cell formula, and its all-one-class case
returns NaN with a warning, where the report wants an explicit "undefined".
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from core.judge_calibration import Confusion


def confusion(pairs: Iterable[tuple[bool, bool]]) -> Confusion:
    """The matrix of (human verdict, judge verdict) pairs; True is a pass."""
    cells = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for human, judge in pairs:
        key = ("tp" if judge else "fn") if human else ("fp" if judge else "tn")
        cells[key] += 1
    return Confusion(**cells)


def _matrix(matrix: Confusion) -> np.ndarray:
    # Rows: human pass, human fail; columns: judge pass, judge fail.
    return np.array([[matrix.tp, matrix.fn], [matrix.fp, matrix.tn]], dtype=float)


def agreement(matrix: Confusion) -> float | None:
    """Observed agreement p_o: the share of items where the judge and the human agree."""
    cells = _matrix(matrix)
    total = cells.sum()
    return float(np.trace(cells) / total) if total else None


def cohen_kappa(matrix: Confusion) -> float | None:
    """kappa = (p_o - p_e) / (1 - p_e), p_e the agreement expected by chance from each
    rater's pass rate. None when undefined: with p_e = 1 both raters gave one and the same
    verdict to every item, so the data cannot tell a judge from chance."""
    cells = _matrix(matrix)
    total = cells.sum()
    if not total:
        return None
    observed = np.trace(cells) / total
    expected = float(cells.sum(axis=1) @ cells.sum(axis=0)) / total**2
    if np.isclose(expected, 1.0):
        return None
    return float((observed - expected) / (1.0 - expected))
