"""Small text helpers shared by the renderers."""

from __future__ import annotations

from datetime import UTC, datetime

STATUS_STYLES = {
    "pending": "dim",
    "validating": "cyan",
    "training": "blue",
    "evaluating": "magenta",
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "passed": "green",
    "error": "red",
    "running": "blue",
}


def styled_status(status: str) -> str:
    style = STATUS_STYLES.get(status, "")
    return f"[{style}]{status}[/]" if style else status


def number(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:+.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 3) -> str:
    if low is None or high is None:
        return "-"
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def eta(finish: datetime | None, now: datetime | None = None) -> str:
    """Time left until the provider's estimated finish."""
    if finish is None:
        return "-"
    now = now or datetime.now(UTC)
    if finish.tzinfo is None:
        finish = finish.replace(tzinfo=UTC)
    left = (finish - now).total_seconds()
    return "any moment" if left <= 0 else duration(left)


def timestamp(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.4f}"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
