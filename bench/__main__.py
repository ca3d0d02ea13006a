"""`python -m bench` (what `make bench` runs): every benchmark of issue #10, printed and written to docs/benchmarks.md.

python -m bench                      # the full set, under 15 minutes on 2 cores
python -m bench --quick              # a smoke run in about 3 minutes (smaller sizes, scaled limits)
python -m bench --time-scale 0.1     # throughput runs with every QBO limit raised 10×
python -m bench --only throughput,memory
python -m bench --only attack        # what unauthenticated traffic costs (also: python -m bench.attack)
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import attack, emulator_cost, engine_cost, first_sync, report, slack_load, throughput

SECTIONS = ("throughput", "first-sync", "overhead", "memory", "emulator", "slack", "attack")
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Plan:
    """Sizes and scales of one run; `--quick` shrinks everything."""

    time_scale: float  # throughput runs
    first_sync_time_scale: float
    first_sync_invoices: int
    first_sync_workers: int
    measure_windows: int
    overhead_invoices: int
    memory_sizes: tuple[int, ...]
    emulator_bills: int
    slack_sync_invoices: int
    slack_bursts: int
    throughput_seconds: float


def plan_for(args: argparse.Namespace) -> Plan:
    if args.quick:
        return Plan(
            time_scale=args.time_scale or 0.1,
            first_sync_time_scale=args.first_sync_time_scale or 0.1,
            first_sync_invoices=600,
            first_sync_workers=50,
            measure_windows=1,
            overhead_invoices=1_000,
            memory_sizes=(1_000, 2_000, 5_000),
            emulator_bills=15_000,
            slack_sync_invoices=3_000,
            slack_bursts=2,
            throughput_seconds=2.0,
        )
    return Plan(
        time_scale=args.time_scale or 0.25,
        first_sync_time_scale=args.first_sync_time_scale or 1.0,
        first_sync_invoices=2_400,
        first_sync_workers=200,
        measure_windows=2,
        overhead_invoices=5_000,
        memory_sizes=(1_000, 10_000, 100_000),
        emulator_bills=100_000,
        slack_sync_invoices=slack_load.SYNC_INVOICES,
        slack_bursts=slack_load.BURSTS,
        throughput_seconds=5.0,
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=None,
        help="shrink QBO's rate windows by this factor for the throughput runs (default 0.25; --quick 0.1)",
    )
    parser.add_argument(
        "--first-sync-time-scale",
        type=float,
        default=None,
        help="time scale of the realistic first sync (default 1: real limits; below 1 the minutes are extrapolated)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and scaled limits: a smoke run")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="where to write the Markdown report")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument("--log-level", default="error", help="the bot's log level during the runs")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if args.time_scale is not None and not 0 < args.time_scale <= 1:
        parser.error("--time-scale must be in (0, 1]")
    return args


def run_throughput(plan: Plan, out: report.Report) -> None:
    scale, windows = plan.time_scale, plan.measure_windows
    results = [
        throughput.measure_engine(time_scale=scale, pdfs=False, measure_windows=windows),
        throughput.measure_engine(time_scale=scale, pdfs=True, measure_windows=windows),
        throughput.measure_simple(time_scale=scale, measure_windows=windows),
    ]
    for figure in report.throughput_figures(results, scale):
        out.add(figure)
    for figure in throughput.paid_figures(results, scale):  # issue #15: paid bills per minute
        out.add(figure)
    for note in throughput.paid_notes(results):
        out.note(note)


def run_first_sync(plan: Plan, out: report.Report) -> None:
    result = first_sync.measure_first_sync(
        workers=plan.first_sync_workers,
        invoices=plan.first_sync_invoices,
        months=12,
        time_scale=plan.first_sync_time_scale,
    )
    for figure in report.first_sync_figures(result):
        out.add(figure)


def run_overhead(plan: Plan, out: report.Report) -> None:
    costs = [
        engine_cost.measure_in_child(invoices=plan.overhead_invoices, pdfs=False),
        engine_cost.measure_in_child(invoices=plan.overhead_invoices, pdfs=True),
    ]
    for figure in report.engine_cost_figures(costs):
        out.add(figure)


def run_memory(plan: Plan, out: report.Report) -> None:
    costs = [engine_cost.measure_in_child(invoices=size, pdfs=False) for size in plan.memory_sizes]
    for figure in report.memory_figures(costs):
        out.add(figure)


def run_emulator(plan: Plan, out: report.Report) -> None:
    for figure in report.emulator_cost_figures(emulator_cost.measure_emulator_cost(bills=plan.emulator_bills)):
        out.add(figure)


def run_slack(plan: Plan, out: report.Report) -> None:
    result = slack_load.measure_slack_load(
        sync_invoices=plan.slack_sync_invoices, bursts=plan.slack_bursts, throughput_seconds=plan.throughput_seconds
    )
    if not result.sync_still_running_after_busy_round:
        out.note("the sync finished before the busy round did: the busy figures are partly idle")
    for figure in report.slack_figures(result):
        out.add(figure)


def run_attack(plan: Plan, out: report.Report) -> None:
    for figure in attack.figures(attack.measure_attack()):
        out.add(figure)


RUNNERS: dict[str, Callable[[Plan, report.Report], None]] = {
    "throughput": run_throughput,
    "first-sync": run_first_sync,
    "overhead": run_overhead,
    "memory": run_memory,
    "emulator": run_emulator,
    "slack": run_slack,
    "attack": run_attack,
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from bot.logs import configure_logging

    configure_logging(args.log_level)
    plan = plan_for(args)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    options = {
        "quick": args.quick,
        "throughput time scale": plan.time_scale,
        "first-sync time scale": plan.first_sync_time_scale,
        "sections": args.only,
    }
    out = report.Report(command=command.strip(), options=options)
    started = time.monotonic()
    failures = 0
    for section in args.only.split(","):
        print(f"== {section}", flush=True)
        section_started = time.monotonic()
        try:
            RUNNERS[section](plan, out)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failures += 1
            out.note(f"{section} failed: {type(exc).__name__}: {exc}")
        print(f"   ({time.monotonic() - section_started:.0f} s)", flush=True)
    out.seconds = time.monotonic() - started
    if not args.no_write:
        report.write_markdown(out, args.output)
        print(f"wrote {args.output}")
    print(f"done in {out.seconds / 60:.1f} min")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
