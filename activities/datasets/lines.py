"""Cutting a byte stream into JSON Lines records, in memory bounded by the longest line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

DEFAULT_MAX_LINE_BYTES = 10 * 1024 * 1024


class Line(NamedTuple):
    """A line cut from a stream. `data` is None when it was dropped for being too long."""

    number: int
    data: bytes | None
    size: int


class LineSplitter:
    """Cuts a byte stream into lines (terminators kept) as chunks arrive.

    Holds at most one partial line; a line growing past `max_line_bytes` is discarded
    as it streams by and reported as `Line(number, None, size)`.
    """

    def __init__(self, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        self.max_line_bytes = max_line_bytes
        self._buf = bytearray()
        # Bytes at the start of _buf already searched for a newline.
        self._scanned = 0
        # Bytes of the current over-long line discarded so far; None while not discarding.
        self._skipped: int | None = None
        self._line_no = 0

    def push(self, chunk: bytes) -> Iterator[Line]:
        if self._skipped is not None:
            end = chunk.find(b"\n")
            if end < 0:
                self._skipped += len(chunk)
                return
            yield self._dropped(self._skipped + end + 1)
            chunk = chunk[end + 1 :]
        buf = self._buf
        buf += chunk
        start = 0
        pos = self._scanned
        while (end := buf.find(b"\n", pos)) >= 0:
            self._line_no += 1
            yield Line(self._line_no, bytes(buf[start : end + 1]), end + 1 - start)
            start = pos = end + 1
        del buf[:start]
        self._scanned = len(buf)
        # +1 leaves room for the '\r' of a CRLF terminator still to come.
        if len(buf) > self.max_line_bytes + 1:
            self._skipped = len(buf)
            buf.clear()
            self._scanned = 0

    def close(self) -> Iterator[Line]:
        """Flush a final line that has no trailing newline."""
        if self._skipped is not None:
            yield self._dropped(self._skipped)
        elif self._buf:
            self._line_no += 1
            yield Line(self._line_no, bytes(self._buf), len(self._buf))
            self._buf.clear()
            self._scanned = 0

    def _dropped(self, size: int) -> Line:
        self._skipped = None
        self._line_no += 1
        return Line(self._line_no, None, size)
