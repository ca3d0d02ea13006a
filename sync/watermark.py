"""Where a run starts reading Ontop, and how far the next one may skip: the one rule for both.

Before the first run: the backfill date chosen at connect. After it: the watermark, minus an overlap for late
writes on Ontop's side. The watermark only moves past invoices that reached a terminal state, so an invoice that
still needs work is read again by the next run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

WATERMARK_OVERLAP = timedelta(minutes=10)  # re-read a little before the watermark: late writes on Ontop's side


def read_start(watermark: datetime | None, backfill_from: datetime | None) -> datetime | None:
    """The updateDate a run (or a preview) reads invoices from; None means the whole history."""
    if watermark is not None:
        return watermark - WATERMARK_OVERLAP
    return backfill_from


class WatermarkTracker:
    """Follows a run's pages: the newest invoice seen, and the oldest one that must be read again."""

    def __init__(self) -> None:
        self.newest_seen: datetime | None = None
        self.held_at: datetime | None = None

    def saw(self, updated_at: datetime) -> None:
        self.newest_seen = updated_at if self.newest_seen is None else max(self.newest_seen, updated_at)

    def hold(self, updated_at: datetime) -> None:
        """This invoice still needs work: the watermark must not pass it."""
        self.held_at = updated_at if self.held_at is None else min(self.held_at, updated_at)

    def advanced(self, before: datetime | None) -> datetime | None:
        """The watermark after the run: past every invoice that reached a terminal state, never past a held one."""
        if self.held_at is not None:
            return self.held_at
        if self.newest_seen is not None:
            return max(before, self.newest_seen) if before else self.newest_seen
        return before
