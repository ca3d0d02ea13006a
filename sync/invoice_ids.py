"""A compact set of Ontop invoice ids, for a run that remembers every invoice it queued.

A Python set of 100,000 string ids takes about 10 MiB (a str object and a hash slot each); a run's memory is meant
to stay flat however many invoices it reads. Here the newest ids sit in a small set and older ones are folded into
sorted arrays of 8 bytes an id, merged like a binary counter so there are never more than about log2(n / 4,096).
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left

FOLD_AT = 4096  # ids kept as Python ints before they are folded into a sorted array


class InvoiceIdSet:
    """Membership of integer invoice ids (given as int or as their decimal string)."""

    def __init__(self, fold_at: int = FOLD_AT) -> None:
        self._fold_at = fold_at
        self._recent: set[int] = set()
        self._folded: list[array[int]] = []  # sorted, disjoint, largest first
        self._size = 0

    def add(self, invoice_id: int | str) -> None:
        value = int(invoice_id)
        if value in self:
            return
        self._recent.add(value)
        self._size += 1
        if len(self._recent) >= self._fold_at:
            self._fold()

    def __contains__(self, invoice_id: object) -> bool:
        if not isinstance(invoice_id, int | str):
            return False
        try:
            value = int(invoice_id)
        except ValueError:
            return False
        if value in self._recent:
            return True
        for ids in self._folded:
            index = bisect_left(ids, value)
            if index < len(ids) and ids[index] == value:
                return True
        return False

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        self._recent.clear()
        self._folded.clear()
        self._size = 0

    def _fold(self) -> None:
        merged = array("q", sorted(self._recent))
        self._recent.clear()
        # Merge with the newest array while it is no bigger: sizes stay distinct powers of two of fold_at.
        while self._folded and len(self._folded[-1]) <= len(merged):
            merged = array("q", heapq.merge(self._folded.pop(), merged))
        self._folded.append(merged)
