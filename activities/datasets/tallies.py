"""Running counts the validator keeps over a whole file, in a few bytes per record."""

from __future__ import annotations

from array import array


class MessageCounts:
    """Running min / max / mean of messages per example."""

    def __init__(self) -> None:
        self.examples = 0
        self.total = 0
        self.low: int | None = None
        self.high: int | None = None

    def add(self, count: int) -> None:
        self.examples += 1
        self.total += count
        self.low = count if self.low is None else min(self.low, count)
        self.high = count if self.high is None else max(self.high, count)

    @property
    def mean(self) -> float | None:
        return round(self.total / self.examples, 2) if self.examples else None


class FirstSeen:
    """Open-addressing set of 64-bit hashes remembering the line each was first seen on.

    Two flat arrays cost 12 bytes per slot (24-48 per record at load <= 1/2), against
    roughly 110 for a dict of ints, which matters at millions of records.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._hashes = array("Q", bytes(8 * capacity))
        self._lines = array("I", bytes(4 * capacity))
        self._size = 0

    def first_line(self, key: int, line_no: int) -> int | None:
        """The line `key` was first seen on, or None after recording it as new."""
        key = key or 1  # 0 marks an empty slot
        slot = self._find(key)
        if self._hashes[slot] == key:
            return self._lines[slot]
        self._hashes[slot] = key
        self._lines[slot] = line_no
        self._size += 1
        if self._size * 2 > len(self._hashes):
            self._grow()
        return None

    def _find(self, key: int) -> int:
        hashes = self._hashes
        mask = len(hashes) - 1
        slot = key & mask
        while hashes[slot] not in (0, key):
            slot = (slot + 1) & mask
        return slot

    def _grow(self) -> None:
        old = zip(self._hashes, self._lines, strict=True)
        capacity = 2 * len(self._hashes)
        self._hashes = array("Q", bytes(8 * capacity))
        self._lines = array("I", bytes(4 * capacity))
        for key, line_no in old:
            if key:
                slot = self._find(key)
                self._hashes[slot] = key
                self._lines[slot] = line_no
