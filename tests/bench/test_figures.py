"""The arithmetic behind the benchmark figures: ceilings, steady-state rates, percentiles, the report."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.engine_cost import EngineCost
from bench.figures import Figure, Samples, percentile, steady_rate
from bench.report import Report, memory_figures, render_markdown, write_markdown
from bench.throughput import batched_ceiling, invoices_for, simple_ceiling


def test_ceiling_without_pdfs_is_forty_batch_calls_of_thirty_bills() -> None:
    assert batched_ceiling(pdfs=False) == 1200


def test_ceiling_with_pdfs_is_the_request_limit_shared_by_uploads_and_batch_calls() -> None:
    ceiling = batched_ceiling(pdfs=True)
    # Each bill costs one upload and 1/30 of a batch call: 500 requests buy 500 / (1 + 1/30) bills.
    assert math.isclose(ceiling, 500 * 30 / 31)
    assert math.isclose(ceiling + ceiling / 30, 500)


def test_simple_way_ceiling_is_one_request_per_bill_under_the_per_minute_limit() -> None:
    assert simple_ceiling() == 500


def test_company_is_sized_for_enough_bills_to_outlast_the_measuring_windows() -> None:
    assert invoices_for(1200, 3.7) * 0.85 >= 1200 * 3.7


def _sliding_window_run(allowance: int, window: float, windows: int, burst_seconds: float) -> Samples:
    """What a client under a sliding window does: its allowance in a burst at the start of every window."""
    samples = Samples()
    count = 0
    step = burst_seconds / allowance
    for index in range(windows):
        for item in range(allowance):
            count += 1
            samples.add(index * window + item * step, count)
    samples.add(windows * window, count)
    return samples


def test_steady_rate_ignores_the_first_windows_burst() -> None:
    samples = _sliding_window_run(allowance=100, window=6.0, windows=4, burst_seconds=1.0)
    # Over the whole run the rate looks like 400 items in 3.2 windows, 125 per window; the limit allows 100.
    rate = steady_rate(samples, window_seconds=6.0, warmup_windows=1, measure_windows=2)
    assert rate.full
    assert math.isclose(rate.per_window, 100, rel_tol=0.02)


def test_steady_rate_says_when_the_run_ended_before_the_measuring_windows() -> None:
    samples = _sliding_window_run(allowance=100, window=6.0, windows=2, burst_seconds=1.0)
    rate = steady_rate(samples, window_seconds=6.0, warmup_windows=1, measure_windows=3)
    assert not rate.full
    assert rate.measured_to < 1 * 6.0 + 3 * 6.0


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 51)]
    assert percentile(values, 0.50) == 25
    assert percentile(values, 0.99) == 50
    assert math.isnan(percentile([], 0.5))


def test_figure_line_puts_the_value_next_to_its_target() -> None:
    figure = Figure("S", "ratio", 0.8712, "× ceiling", target="≥ 0.9", met=False)
    assert figure.line() == "ratio: 0.87 × ceiling  (target ≥ 0.9: MISSED)"


def test_ratio_just_under_the_target_shows_enough_digits_to_see_the_miss() -> None:
    figure = Figure("S", "ratio", 0.8991, "× ceiling", target="≥ 0.9", met=False, decimals=3)
    assert figure.value_text() == "0.899"


def _cost(invoices: int, peak: float) -> EngineCost:
    return EngineCost(invoices, False, invoices, invoices, 1.0, 1.0, 90.0, peak)


def test_memory_is_flat_when_peaks_stay_within_ten_percent() -> None:
    flat = memory_figures([_cost(1_000, 100.0), _cost(100_000, 109.0)])
    growing = memory_figures([_cost(1_000, 100.0), _cost(100_000, 111.0)])
    assert flat[-1].met is True
    assert growing[-1].met is False


def test_report_names_machine_and_command_and_explains_only_missed_targets() -> None:
    report = Report(command="python -m bench --quick", options={"quick": True})
    report.figures.append(Figure("Memory", "spread", 2.0, "%", target="flat within 10%", met=True))
    report.figures.append(Figure("Slack responsiveness", "p99", 250.0, "ms", target="< 100 ms", met=False))
    text = render_markdown(report)
    assert "`python -m bench --quick`" in text
    assert "CPU(s)" in text
    assert "| p99 | 250 ms | < 100 ms (MISSED) |" in text
    assert "- **Slack responsiveness.**" in text
    assert "**Memory.** Peak RSS grows" not in text


def test_a_run_of_some_sections_keeps_the_other_sections_figures_in_the_json_and_the_markdown(tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    first = Report(command="python -m bench", options={})
    first.add(Figure("Memory", "peak RSS", 104.0, "MiB"))
    first.add(Figure("Slack responsiveness", "p99 ack", 123.0, "ms", target="< 100 ms", met=False))
    write_markdown(first, output)

    second = Report(command="python -m bench --only slack", options={})
    second.add(Figure("Slack responsiveness", "p99 ack", math.nan, "ms", target="< 100 ms", met=None))
    write_markdown(second, output)

    sections = json.loads(output.with_suffix(".json").read_text())["sections"]
    assert [section["section"] for section in sections] == ["Memory", "Slack responsiveness"]
    assert sections[0]["figures"][0]["value"] == 104.0 and "`python -m bench`" in sections[0]["measured"]
    assert sections[1]["figures"][0]["value"] is None, "NaN is written as null: the file stays plain JSON"
    markdown = output.read_text()
    assert "| peak RSS | 104 MiB |" in markdown and "| p99 ack | n/a |" in markdown
    assert "MISSED" not in markdown, "the replaced section's old miss is gone"
