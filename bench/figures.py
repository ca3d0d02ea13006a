"""Measured figures, the targets they are compared with, and the steady-state rate arithmetic they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One measured number next to its target; `met` is None when there is no target (informational)."""

    section: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""
    decimals: int | None = None  # fixed decimals (ratios compared with 0.9 need three)

    def value_text(self) -> str:
        if self.value is None or math.isnan(self.value):
            return "n/a"
        if self.decimals is not None:
            return f"{self.value:.{self.decimals}f}"
        if self.value != 0 and abs(self.value) < 0.1:
            return f"{self.value:.4f}"
        if abs(self.value) >= 100:
            return f"{self.value:,.0f}"
        return f"{self.value:.2f}"

    def verdict(self) -> str:
        if self.met is None:
            return ""
        return "met" if self.met else "MISSED"

    def line(self) -> str:
        target = f"  (target {self.target}: {self.verdict()})" if self.target else ""
        note = f"  [{self.note}]" if self.note else ""
        return f"{self.name}: {self.value_text()} {self.unit}{target}{note}"


@dataclass
class Samples:
    """(seconds since start, cumulative count) pairs taken while a run progresses."""

    points: list[tuple[float, int]] = field(default_factory=list)

    def add(self, at: float, count: int) -> None:
        self.points.append((at, count))

    def count_at(self, at: float) -> float:
        """The count at `at`, linearly interpolated between samples (clamped to the first and last sample)."""
        if not self.points:
            return 0.0
        if at <= self.points[0][0]:
            return float(self.points[0][1])
        for (t0, c0), (t1, c1) in zip(self.points, self.points[1:], strict=False):
            if t0 <= at <= t1:
                if t1 == t0:
                    return float(c1)
                return c0 + (c1 - c0) * (at - t0) / (t1 - t0)
        return float(self.points[-1][1])


@dataclass(frozen=True)
class SteadyRate:
    per_window: float  # items per rate-limit window (QBO's minute, scaled)
    measured_from: float  # seconds after the start
    measured_to: float
    full: bool  # False when the run ended before the planned measuring interval did


def steady_rate(samples: Samples, window_seconds: float, warmup_windows: int, measure_windows: int) -> SteadyRate:
    """Items per window over whole windows after a warm-up.

    A sliding window lets a client spend a whole window's allowance at once when it starts, so a rate over a run
    that includes the start overstates what the limits allow; whole windows after the first are exact.
    """
    start = warmup_windows * window_seconds
    end = start + measure_windows * window_seconds
    last = samples.points[-1][0] if samples.points else 0.0
    full = last >= end
    if not full:
        # The run ended early: measure up to the last moment the count still grew (never past the final item).
        end = _last_growth(samples)
        if end <= start:
            start = 0.0
    if end <= start:
        return SteadyRate(math.nan, start, end, False)
    per_second = (samples.count_at(end) - samples.count_at(start)) / (end - start)
    return SteadyRate(per_second * window_seconds, start, end, full)


def _last_growth(samples: Samples) -> float:
    final = samples.points[-1][1]
    for at, count in samples.points:
        if count >= final:
            return at
    return samples.points[-1][0]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 50 values is the 50th value, the slowest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]
