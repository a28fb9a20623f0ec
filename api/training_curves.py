"""Training curves drawn as a chart (SVG or PNG) fit for a slide: loss above, token
accuracy below, with the validation curve over the (smoothed) training curve."""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import MaxNLocator, PercentFormatter
from matplotlib.typing import RcKeyType
from pydantic import BaseModel, Field


class MetricPoint(BaseModel):
    step: int = Field(ge=0)
    train_loss: float | None = None
    valid_loss: float | None = None
    train_accuracy: float | None = Field(default=None, description="Mean token accuracy, 0-1")
    valid_accuracy: float | None = Field(default=None, description="Mean token accuracy, 0-1")
    learning_rate: float | None = Field(
        default=None, description="The step's learning rate, where the provider reports it"
    )
    epoch: float | None = Field(
        default=None,
        description="Epochs done at the step, fractional (1.5 is halfway through the second), "
        "where the provider reports it",
    )


class ImageFormat(StrEnum):
    svg = "svg"
    png = "png"


MEDIA_TYPES = {ImageFormat.svg: "image/svg+xml", ImageFormat.png: "image/png"}

TRAIN_COLOR = "#2563eb"
VALID_COLOR = "#ea580c"
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
STYLE: dict[RcKeyType, Any] = {
    "font.size": 11,
    "axes.edgecolor": "#9ca3af",
    "axes.labelcolor": INK,
    "axes.labelsize": 11.5,
    "axes.titlesize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "legend.frameon": False,
    "legend.fontsize": 10.5,
    "svg.hashsalt": "model-trainer",
}
# matplotlib's rcParams are process-wide; one chart at a time.
_DRAW_LOCK = threading.Lock()


@dataclass(frozen=True)
class Chart:
    title: str
    subtitle: str
    points: Sequence[MetricPoint]
    total_steps: int | None
    epochs: int | None
    empty_message: str = "No training metrics recorded yet"


def _ema(values: Sequence[float], alpha: float) -> list[float]:
    out: list[float] = []
    average, weight = 0.0, 0.0
    for value in values:
        average = (1 - alpha) * average + alpha * value
        weight = (1 - alpha) * weight + alpha
        out.append(average / weight)
    return out


def smoothed(values: Sequence[float]) -> list[float]:
    """A bias-corrected exponential moving average run forwards and then backwards (so the
    curve does not lag behind the data), over about a twentieth of the run."""
    span = max(1.0, len(values) / 20)
    alpha = 2.0 / (span + 1.0)
    return _ema(_ema(values, alpha)[::-1], alpha)[::-1]


def _series(points: Sequence[MetricPoint], field: str) -> tuple[list[int], list[float]]:
    pairs = [(p.step, getattr(p, field)) for p in points if getattr(p, field) is not None]
    return [s for s, _ in pairs], [v for _, v in pairs]


def _plot_pair(ax: Axes, points: Sequence[MetricPoint], field: str, percent: bool) -> None:
    """The train curve (raw, faint, plus smoothed) and the validation curve (with markers)."""
    last = "{:.1%}" if percent else "{:.3f}"
    steps, values = _series(points, f"train_{field}")
    if values:
        many = len(values) >= 50
        if many:
            ax.plot(steps, values, color=TRAIN_COLOR, alpha=0.25, linewidth=1.0)
        ax.plot(
            steps,
            smoothed(values) if many else values,
            color=TRAIN_COLOR,
            linewidth=2.2,
            label=f"train  (last {last.format(values[-1])})",
        )
    steps, values = _series(points, f"valid_{field}")
    if values:
        ax.plot(
            steps,
            values,
            color=VALID_COLOR,
            linewidth=2.0,
            marker="o" if len(values) <= 60 else None,
            markersize=3.5,
            label=f"validation  (last {last.format(values[-1])})",
        )
    ax.grid(True, color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    if percent:
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best")


def _mark_epochs(axes: Sequence[Axes], total_steps: int | None, epochs: int | None) -> None:
    if not total_steps or not epochs or epochs < 2 or total_steps < epochs:
        return
    per_epoch = total_steps / epochs
    for epoch in range(1, epochs):
        x = epoch * per_epoch
        for ax in axes:
            ax.axvline(x, color="#9ca3af", linewidth=0.9, linestyle=(0, (4, 4)), zorder=1.5)
        axes[0].annotate(
            f"epoch {epoch + 1}",
            xy=(x, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(4, -4),
            textcoords="offset points",
            va="top",
            fontsize=9,
            color=MUTED,
        )


def draw(chart: Chart, image_format: ImageFormat) -> bytes:
    with _DRAW_LOCK, matplotlib.rc_context(STYLE):
        # The Agg canvas, attached explicitly: no pyplot, no global backend switch.
        fig = Figure(figsize=(10, 6.4), dpi=150, layout="constrained", facecolor="white")
        FigureCanvasAgg(fig)
        # layout="constrained" above: the engine is a ConstrainedLayoutEngine.
        engine = cast(ConstrainedLayoutEngine, fig.get_layout_engine())
        engine.set(h_pad=0.12, hspace=0.06)
        loss_ax, acc_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
        # Names are the user's text: `$` must not start matplotlib's math mode.
        loss_ax.set_title(
            chart.title,
            loc="left",
            fontsize=17,
            fontweight="bold",
            color=INK,
            pad=30,
            parse_math=False,
        )
        loss_ax.annotate(
            chart.subtitle,
            xy=(0, 1),
            xycoords="axes fraction",
            xytext=(0, 10),
            textcoords="offset points",
            fontsize=10.5,
            color=MUTED,
            va="bottom",
            parse_math=False,
        )
        if chart.points:
            _plot_pair(loss_ax, chart.points, "loss", percent=False)
            _plot_pair(acc_ax, chart.points, "accuracy", percent=True)
            _mark_epochs((loss_ax, acc_ax), chart.total_steps, chart.epochs)
            last_step = chart.points[-1].step
            acc_ax.set_xlim(0, max(chart.total_steps or 0, last_step) * 1.01 or 1)
        else:
            loss_ax.text(
                0.5,
                0.5,
                chart.empty_message,
                transform=loss_ax.transAxes,
                ha="center",
                va="center",
                fontsize=13,
                color=MUTED,
            )
            for ax in (loss_ax, acc_ax):
                ax.set_yticks([])
                ax.set_xticks([])
        loss_ax.set_ylabel("Loss")
        loss_ax.set_ylim(bottom=0)
        acc_ax.set_ylabel("Token accuracy")
        acc_ax.set_xlabel("Training step")
        if chart.points:
            acc_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        buffer = io.BytesIO()
        metadata = {"Date": None} if image_format is ImageFormat.svg else {"Software": None}
        fig.savefig(buffer, format=image_format.value, metadata=metadata)
        return buffer.getvalue()
