"""Exceptions in log lines as a short, path-free summary instead of a traceback.

A traceback names server paths and can quote the values a frame held; operators need the
exception's type, its error code and where it was raised, which this gives without them.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from structlog.typing import EventDict, WrappedLogger


def _where(tb: TracebackType | None) -> str | None:
    """`module.function:line` of the innermost frame (module names, never file paths)."""
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return None
    frame = last.tb_frame
    module = frame.f_globals.get("__name__", "?")
    return f"{module}.{frame.f_code.co_name}:{last.tb_lineno}"


def summarise_exception(error: BaseException) -> dict[str, Any]:
    summary: dict[str, Any] = {"type": type(error).__name__}
    code = getattr(error, "type", None)  # temporalio ApplicationError's error code
    if isinstance(code, str):
        summary["error_code"] = code
    where = _where(error.__traceback__)
    if where:
        summary["where"] = where
    cause = error.__cause__ or error.__context__
    if cause is not None and not getattr(error, "__suppress_context__", False):
        summary["cause"] = type(cause).__name__
    return summary


def _exception_of(exc_info: Any) -> BaseException | None:
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        return exc_info[1] if isinstance(exc_info[1], BaseException) else None
    if exc_info is True:
        return sys.exc_info()[1]
    return None


def summarise_exc_info(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """structlog processor replacing `exc_info` with `exception: {type, error_code, where}`."""
    exc_info = event.pop("exc_info", None)
    event.pop("stack_info", None)
    error = _exception_of(exc_info)
    if error is not None:
        event["exception"] = summarise_exception(error)
    return event


__all__ = ["summarise_exc_info", "summarise_exception"]
