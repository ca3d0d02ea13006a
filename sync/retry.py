"""Back-off shared by the HTTP clients: jittered exponential delays and Retry-After parsing."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class Backoff:
    """How often and how patiently to retry a transient failure.

    `attempts` counts every try, the first included. Delays grow exponentially with full jitter so that
    many workers hitting the same limit do not retry in lockstep.
    """

    attempts: int = 5
    base_seconds: float = 0.5
    max_seconds: float = 30.0

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The pauses between tries: attempts - 1 of them."""
        chooser = rng or random.Random()
        for retry in range(self.attempts - 1):
            ceiling = min(self.max_seconds, self.base_seconds * (2**retry))
            yield chooser.uniform(ceiling / 2, ceiling)


def retry_after_seconds(header: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not header:
        return None
    text = header.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
