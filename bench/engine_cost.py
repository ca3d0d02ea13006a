"""The engine's own cost with QBO's limits off: CPU per invoice, invoices per second, and peak RSS by company size.

Memory runs each size in a fresh child process (`python -m bench.engine_cost --invoices N`) that reports its own
peak RSS, so one size's allocations never hide in another's figure. The emulators are that child's children and
are not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.emulators import ontop_process, qbo_process
from bench.world import EngineWorld, WorldOptions

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class EngineCost:
    invoices: int
    pdfs: bool
    invoices_seen: int
    bills_created: int
    wall_seconds: float
    cpu_seconds: float  # user + system time of the bot process during the run (all its threads)
    rss_before_mb: float  # after start-up and connect, before the run
    peak_rss_mb: float  # the bot process's high-water RSS at the end (VmHWM)

    @property
    def cpu_ms_per_invoice(self) -> float:
        return 1000 * self.cpu_seconds / max(1, self.invoices_seen)

    @property
    def invoices_per_second(self) -> float:
        return self.invoices_seen / self.wall_seconds if self.wall_seconds else 0.0


def _peak_rss_mb() -> float:
    """This process's own high-water RSS. VmHWM starts afresh at exec; ru_maxrss would carry over the peak of the
    parent that forked us (the benchmark runner), hiding the child's own figure."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _current_rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


def measure_engine_cost(*, invoices: int, pdfs: bool, workers: int = 40, months: int = 12) -> EngineCost:
    """One first sync with the emulator's limits and the client limiter off: what the bot itself costs."""
    with (
        qbo_process(rate_limits=False) as qbo,
        ontop_process(workers=workers, invoices=invoices, months=months, pdfs=pdfs) as ontop,
    ):

        async def run() -> EngineCost:
            async with EngineWorld(WorldOptions(qbo.url, ontop.url, limiter=False)) as world:
                await world.connect()
                rss_before = _current_rss_mb()
                cpu_started, wall_started = time.process_time(), time.monotonic()
                result = await world.sync()
                wall = time.monotonic() - wall_started
                cpu = time.process_time() - cpu_started
                return EngineCost(
                    invoices=invoices,
                    pdfs=pdfs,
                    invoices_seen=result.invoices_seen,
                    bills_created=result.bills_created,
                    wall_seconds=wall,
                    cpu_seconds=cpu,
                    rss_before_mb=rss_before,
                    peak_rss_mb=_peak_rss_mb(),
                )

        return asyncio.run(run())


def measure_in_child(*, invoices: int, pdfs: bool, timeout_seconds: float = 900) -> EngineCost:
    """Run `measure_engine_cost` in a fresh interpreter and read back its figures (and its own peak RSS)."""
    command = [sys.executable, "-m", "bench.engine_cost", "--invoices", str(invoices)]
    if not pdfs:
        command.append("--no-pdfs")
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout_seconds, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"engine cost child failed ({done.returncode}): {done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return EngineCost(**figures)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_cost")
    parser.add_argument("--invoices", type=int, required=True)
    parser.add_argument("--no-pdfs", action="store_true")
    args = parser.parse_args(argv)
    from bot.logs import configure_logging

    configure_logging("warning")
    cost = measure_engine_cost(invoices=args.invoices, pdfs=not args.no_pdfs)
    print(json.dumps(asdict(cost)))


if __name__ == "__main__":
    main()
